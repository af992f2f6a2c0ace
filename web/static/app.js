// Progressive enhancement only: every page works without this script.
"use strict";

document.querySelectorAll("button.copy[data-copy]").forEach((button) => {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
});

const form = document.getElementById("upload-form");
if (form && window.XMLHttpRequest && window.FormData) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const progress = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      progress.hidden = false;
      progress.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = e.loaded < e.total
        ? `Uploading: ${progress.value}%`
        : "Checking the preset...";
    });
    request.addEventListener("load", () => {
      if (request.status < 300) {
        window.location = JSON.parse(request.responseText).location;
        return;
      }
      // The server answers errors with the form re-rendered: show it.
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", () => {
      status.textContent = "The upload failed: the connection was lost. Try again.";
    });
    request.send(new FormData(form));
  });
}

// The "Try it" box: the same form, answered as server-sent events so the text
// appears as it is generated; Stop aborts the request (the server cancels it).
const tryForm = document.getElementById("try-form");
if (tryForm && window.fetch && window.AbortController && window.TextDecoder) {
  const output = document.getElementById("try-output");
  const text = document.getElementById("try-text");
  const status = document.getElementById("try-status");
  const run = document.getElementById("try-run");
  const stop = document.getElementById("try-stop");
  let controller = null;

  const handle = (kind, data) => {
    if (kind === "queued") status.textContent = `Waiting for a worker (position ${data.position})...`;
    else if (kind === "loading") status.textContent = "Loading the model...";
    else if (kind === "text") { text.textContent += data.text; status.textContent = "Generating..."; }
    else if (kind === "done") {
      status.textContent = `${data.tokens} token${data.tokens === 1 ? "" : "s"} in ${data.seconds.toFixed(2)} s (${data.reason})`;
    } else if (kind === "error") status.textContent = data.message;
  };

  // One server-sent event: "event: name" and "data: json" lines.
  const dispatch = (block) => {
    let kind = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) handle(kind, JSON.parse(data.join("\n")));
  };

  stop.addEventListener("click", () => { if (controller) controller.abort(); });
  tryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    controller = new AbortController();
    output.hidden = false;
    output.querySelector(".prompt").textContent = tryForm.elements.prompt.value;
    text.textContent = "";
    status.textContent = "Sending...";
    run.disabled = true;
    stop.hidden = false;
    try {
      const response = await fetch(tryForm.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(tryForm)),
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        status.textContent = body && body.error ? body.error.message : `The server answered ${response.status}.`;
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        }
      }
    } catch (error) {
      status.textContent = error.name === "AbortError" ? "Stopped." : "The connection was lost. Try again.";
    } finally {
      run.disabled = false;
      stop.hidden = true;
      controller = null;
    }
  });
}
