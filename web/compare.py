"""Two revisions of a preset side by side: which files changed and, inside each
weights file kept at one path, which tensors (from the files' headers and a
digest of each tensor's bytes: `registry.preset.tensors`).

| path | what |
|---|---|
| `GET /presets/{ns}/{name}/compare?base=REV&head=REV` | the page |
| `GET /api/v1/presets/{ns}/{name}/compare?base=REV&head=REV` | the same as JSON |

`head` defaults to the latest revision and `base` to the one before `head`;
either may be an alias, a digest or a digest prefix. A file's tensors are
indexed once per content (kept under the store's `cache/tensors/`), so the
first comparison of a large file reads it and the next ones do not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from registry.errors import RevisionNotFoundError
from registry.preset.tensors import (
    TensorInfo,
    cached_tensor_index,
    compare_tensors,
    is_weights_file,
)
from registry.records import (
    FileChange,
    RevisionComparison,
    TensorChangeOut,
    TensorOut,
    WeightsDiff,
)
from registry.resolver.handles import CatalogHandle
from web.api import common
from web.api.v1 import ERRORS
from web.auth import Principal, PrincipalDep
from web.rendering import render
from web.services import Services, ServicesDep

api_router = APIRouter(prefix="/api/v1", tags=["presets"], responses=ERRORS)
page_router = APIRouter(include_in_schema=False)
# The page lists this many changed tensors per file; the JSON answer lists all.
PAGE_TENSORS = 200
Ref = Annotated[str, Query(max_length=128, description="Alias, digest or digest prefix.")]


def _tensor(info: TensorInfo) -> TensorOut:
    return TensorOut(dtype=info.dtype, shape=info.shape, sha256=info.sha256)


def _tensors_of(svc: Services, ref: common.RevisionRef, path: str) -> dict[str, TensorInfo]:
    entry = ref.entry(path)
    assert entry is not None
    tree = svc.resolver.resolve(CatalogHandle(ref.namespace, ref.name, ref.digest), verify="fast")
    cache = svc.resolver.store.root / "cache" / "tensors"
    return cached_tensor_index(tree.path / path, entry.sha256, cache)


def compare(
    svc: Services, who: Principal, namespace: str, name: str, base: str, head: str
) -> RevisionComparison:
    """The comparison of `base` with `head` (see the module's docstring for defaults).

    Raises:
        PresetNotFoundError, RevisionNotFoundError: no such preset or revision,
            or only one revision and no `base`.
    """
    after = common.revision(svc, who, namespace, name, head or None)
    if not base:
        digests = [r.digest for r in common.detail(svc, who, namespace, name).revisions]
        older = digests[digests.index(after.digest) + 1 :] if after.digest in digests else []
        if not older:
            raise RevisionNotFoundError(
                f"{namespace}/{name}@{after.digest[:12]} is its first revision: there is "
                "nothing before it to compare with. Name another revision with `base=`."
            )
        base = older[0]
    before = common.revision(svc, who, namespace, name, base)

    old = {f.path: f for f in before.manifest.files}
    new = {f.path: f for f in after.manifest.files}
    files = [
        FileChange(path=path, before=old.get(path), after=new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]
    weights = []
    for change in files:
        if change.before is None or change.after is None or not is_weights_file(change.path):
            continue
        diff = compare_tensors(
            _tensors_of(svc, before, change.path), _tensors_of(svc, after, change.path)
        )
        weights.append(
            WeightsDiff(
                path=change.path,
                added={name: _tensor(info) for name, info in diff.added.items()},
                removed={name: _tensor(info) for name, info in diff.removed.items()},
                changed=tuple(
                    TensorChangeOut(
                        name=c.name, what=c.what, before=_tensor(c.before), after=_tensor(c.after)
                    )
                    for c in diff.changed
                ),
                unchanged=diff.unchanged,
            )
        )
    return RevisionComparison(
        base=before.digest,
        head=after.digest,
        files=tuple(files),
        unchanged_files=len(old.keys() & new.keys())
        - sum(1 for f in files if f.before is not None and f.after is not None),
        weights=tuple(weights),
    )


@api_router.get(
    "/presets/{namespace}/{name}/compare",
    response_model=RevisionComparison,
    summary="Compare two revisions: files and tensors",
)
async def compare_json(
    namespace: str, name: str, svc: ServicesDep, who: PrincipalDep,
    base: Ref = "", head: Ref = "",
) -> RevisionComparison:  # fmt: skip
    return await run_in_threadpool(compare, svc, who, namespace, name, base, head)


@page_router.get("/presets/{namespace}/{name}/compare", response_class=HTMLResponse)
async def compare_page(
    namespace: str, name: str, request: Request, svc: ServicesDep, who: PrincipalDep,
    base: Ref = "", head: Ref = "",
) -> HTMLResponse:  # fmt: skip
    detail = await run_in_threadpool(common.detail, svc, who, namespace, name)
    comparison = await run_in_threadpool(compare, svc, who, namespace, name, base, head)
    return render(
        request,
        "compare.html",
        {
            "who": who,
            "preset": detail,
            "comparison": comparison,
            "revisions": {r.digest: r for r in detail.revisions},
            "page_tensors": PAGE_TENSORS,
        },
    )
