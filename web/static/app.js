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
