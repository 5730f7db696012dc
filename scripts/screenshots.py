"""Screenshots of the Prefect and MLflow UIs after a demo, with headless Chromium, for the docs.

    python scripts/screenshots.py [--prefect http://127.0.0.1:4200] [--mlflow http://127.0.0.1:5000]
                                  [--experiment pevl-synthdive] [--out docs/images]

Needs running servers (`pevl up`, or `make demo` which leaves them up) and a finished demo (a flow
run of `pevl` with a grid), and Debian's `chromium` (`apt-get install -y chromium`; `make
screenshots` runs this script). Chromium starts headless with a fresh --user-data-dir and the
DevTools protocol on a free loopback port; each page is loaded, then the script waits (DevTools
`Runtime.evaluate`) until the JavaScript app has drawn what the picture is about before it
captures it. Writes, each at 1600 px wide:

- prefect-flow-run.png: the latest `pevl` flow run's page with its task graph;
- mlflow-runs.png: the experiment's runs table, the grid parent run of that flow run expanded into its child
  runs, with the test metric columns and what each row changes (the tags pevl.vs_previous, pevl.changes);
- mlflow-artifacts-confusion.png / mlflow-artifacts-pose-overlay.png: a grid child run's
  artifacts, the confusion matrix and the pose overlay of its test split.
"""

import argparse
import base64
import contextlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("pevl.screenshots")

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]
WIDTH, HEIGHT = 1600, 1000
ML_VIEW = "workflowType=machine_learning"  # MLflow 3.17's UI: model-training pages, not GenAI ones
CLOSE_ASSISTANT = "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')"  # read when the app loads
ARTIFACT_IMAGE_SHOWN = "Array.from(document.images).some(i => i.complete && i.naturalWidth > 300)"


class Page:
    """One Chromium tab driven over the DevTools protocol (a websocket; replies matched by id)."""

    def __init__(self, ws: Any):
        self.ws, self.next_id = ws, 0

    def call(self, method: str, **params: Any) -> dict:
        """Send one DevTools command and return its result (events in between are skipped)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression[:80]}: {out['exceptionDetails'].get('text')}")
        return out.get("result", {}).get("value")

    def wait(self, ready: str, timeout: float = 90.0) -> None:
        """Poll until the JavaScript expression `ready` is truthy (the app has drawn what we want)."""
        deadline = time.monotonic() + timeout
        while not self._ready(ready):
            if time.monotonic() > deadline:
                url = self.js("location.href")
                raise TimeoutError(f"{url}: the page did not render ({ready}) in {timeout:.0f} s")
            time.sleep(0.5)

    def _ready(self, ready: str) -> bool:
        try:
            return bool(self.js(f"Boolean({ready})"))
        except RuntimeError:  # the document is being replaced (no body yet)
            return False

    def goto(self, url: str, ready: str, timeout: float = 90.0, settle: float = 2.0) -> None:
        """Load url, wait until the JavaScript `ready` is truthy, then `settle` seconds for animations."""
        self.call("Page.navigate", url=url)
        time.sleep(0.5)  # the old document may still answer `ready` right after navigating
        self.wait(ready, timeout)
        time.sleep(settle)

    def resize(self, height: int) -> None:
        """Set the viewport to WIDTH x height (what is below it may not load: some lists load when seen)."""
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height, deviceScaleFactor=1, mobile=False)

    def shoot(self, path: Path, height: int = HEIGHT) -> Path:
        """A PNG of the viewport (WIDTH x height)."""
        self.resize(height)
        time.sleep(0.5)
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(data, path)
        log.info("wrote %s (%d kB)", path, path.stat().st_size // 1024)
        return path


def save_png(data: bytes, path: Path) -> None:
    """Write a screenshot as a 256-colour PNG (a UI has few colours: ~3x smaller), as is without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        path.write_bytes(data)
        return
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)


def chromium() -> str:
    """The Chromium program (Debian's `chromium`), or an error saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no chromium on PATH: apt-get install -y chromium")


@contextlib.contextmanager
def browser() -> Iterator[Page]:
    """Headless Chromium with a fresh profile; its first tab as a Page; stopped on exit."""
    from websockets.sync.client import connect

    profile = Path(tempfile.mkdtemp(prefix="pevl-chromium-"))
    proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        with connect(url, max_size=64 << 20, open_timeout=10) as ws:
            page = Page(ws)
            page.call("Page.enable")
            page.resize(HEIGHT)
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def post_json(url: str, body: dict) -> Any:
    """POST JSON, the decoded answer (Prefect's API wants a CSRF token when it has CSRF protection on)."""
    from pevl.services.security import api_post

    base, path = url.split("/api/", 1)
    return api_post(f"{base}/api", path, body, timeout=30)


def latest_flow_run(prefect: str, look_back: int = 20) -> str:
    """The id of the latest completed run of the flow `pevl` that ran a stage (has a progress artifact).

    A second `make demo` reuses every stage, so its run has nothing to show on the graph's progress;
    the run that computed the outputs is the one to picture.
    """
    runs = post_json(f"{prefect}/api/flow_runs/filter", {
        "flows": {"name": {"any_": ["pevl"]}}, "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
        "sort": "START_TIME_DESC", "limit": look_back})
    if not runs:
        raise SystemExit(f"no completed `pevl` flow run on {prefect}: run `make demo` first")
    for run in runs:
        progress = post_json(f"{prefect}/api/artifacts/filter", {
            "artifacts": {"type": {"any_": ["progress"]}, "flow_run_id": {"any_": [run["id"]]}}, "limit": 1})
        if progress:
            return run["id"]
    raise SystemExit(f"none of the last {len(runs)} completed `pevl` flow runs on {prefect} ran a stage (each "
                     "reused every cached output, so there is no progress to show): `make clean && make demo`")


def grid_runs(mlflow: str, experiment: str, flow_run_id: str = "") -> tuple[str, str, list[Any]]:
    """(experiment id, the latest grid parent run id, its child runs) from the MLflow server; with
    `flow_run_id`, the grid of that Prefect flow run (the one the Prefect pictures show)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"no experiment {experiment!r} on {mlflow}: run `make demo` first")
    query = "tags.stage = 'grid'" + (f" and tags.`prefect.flow_run_id` = '{flow_run_id}'" if flow_run_id else "")
    parents = client.search_runs([exp.experiment_id], query, order_by=["start_time DESC"], max_results=1)
    if not parents:
        raise SystemExit(f"no grid run in {experiment!r}" + (f" of flow run {flow_run_id}" if flow_run_id else "")
                         + ": run `make demo` first")
    parent = parents[0].info.run_id
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    return exp.experiment_id, parent, children


def artifact_run(children: list[Any]) -> str:
    """The grid child run whose artifacts to show: the best row that trained itself (a reused row's
    child only points at the run that holds them, `reused_run_id`)."""
    trained = [r for r in children if "reused_run_id" not in r.data.tags] or children
    if not trained:
        return ""
    best = max(trained, key=lambda r: r.data.metrics.get("test/top1", -1.0))
    return best.data.tags.get("reused_run_id") or best.info.run_id


def shoot_prefect(page: Page, prefect: str, run_id: str, out: Path) -> list[Path]:
    """The flow run page (its graph, then its Artifacts tab), the comparison table and the summary's links."""
    page.goto(f"{prefect}/runs/flow-run/{run_id}", "document.querySelector('canvas')", settle=5.0)
    shots = [page.shoot(out / "prefect-flow-run.png", height=900)]
    page.resize(1300)  # the task runs' artifacts load once they are in view
    page.js(CLICK_ARTIFACTS_TAB)
    page.wait("document.body.innerText.includes('pevl-comparison') && /progress/i.test(document.body.innerText)")
    time.sleep(2.0)
    shots.append(page.shoot(out / "prefect-artifacts.png", height=1300))
    for key, name, ready, height in (
            ("pevl-comparison", "prefect-comparison.png", "document.querySelector('table')", 640),
            ("pevl-run-summary", "prefect-summary-links.png", SUMMARY_LINKS_SHOWN, 720)):
        page.goto(f"{prefect}/artifacts/artifact/{latest_artifact(prefect, run_id, key)}", ready)
        if key == "pevl-run-summary":
            page.js(SCROLL_TO_LINKS)
            time.sleep(1.0)
        shots.append(page.shoot(out / name, height=height))
    return shots


def latest_artifact(prefect: str, flow_run_id: str, key: str) -> str:
    """The id of the artifact `key` of a flow run."""
    found = post_json(f"{prefect}/api/artifacts/filter", {
        "artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [flow_run_id]}}, "sort": "CREATED_DESC",
        "limit": 1})
    if not found:
        raise SystemExit(f"flow run {flow_run_id} has no artifact {key!r}: was it a run with a grid?")
    return found[0]["id"]


CLICK_ARTIFACTS_TAB = """(() => {
  const tabs = Array.from(document.querySelectorAll('[role=tablist] li'));
  const tab = tabs.find(e => e.textContent.trim() === 'Artifacts');
  if (tab) tab.click();
  return Boolean(tab);
})()"""
SUMMARY_LINKS_SHOWN = "Array.from(document.querySelectorAll('h2')).some(h => h.textContent.includes('MLflow runs'))"
SCROLL_TO_LINKS = ("Array.from(document.querySelectorAll('h2')).find(h => h.textContent.includes('MLflow runs'))"
                   ".scrollIntoView({block: 'start'})")


def shoot_mlflow_runs(page: Page, mlflow: str, exp_id: str, parent: str, out: Path) -> Path:
    """The runs table with the grid parent expanded and the test metric columns shown."""
    url = f"{mlflow}/#/experiments/{exp_id}?{ML_VIEW}"
    page.goto(url, "document.body.innerText.includes('matching runs')")
    page.js(table_state_script(exp_id, parent, RUN_COLUMNS))  # read by the app when it loads again
    page.call("Page.reload")
    page.wait("document.body.innerText.includes('test/top1') && document.body.innerText.includes('matching runs')")
    time.sleep(3.0)
    return page.shoot(out / "mlflow-runs.png", height=760)


def shoot_mlflow_artifacts(page: Page, mlflow: str, exp_id: str, run_id: str, out: Path) -> list[Path]:
    """A child run's artifacts page, once on the confusion matrix, once on the pose overlay."""
    shots = []
    for name, file, height in (("confusion", "eval/test/confusion.png", 1360),
                               ("pose-overlay", "eval/test/pose_overlay.png", 520)):
        url = f"{mlflow}/#/experiments/{exp_id}/runs/{run_id}/artifacts/{urllib.parse.quote(file)}?{ML_VIEW}"
        page.goto(url, "document.body.innerText.includes('Artifacts')")
        page.js(CLOSE_ASSISTANT)
        page.call("Page.reload")
        page.wait(ARTIFACT_IMAGE_SHOWN)
        time.sleep(2.0)
        shots.append(page.shoot(out / f"mlflow-artifacts-{name}.png", height))
    return shots


METRICS = ["metrics.`test/top1`", "metrics.`test/top5`", "metrics.`test/mean_class_acc`"]
# what each grid row changes (pevl/grid/changes.py): vs the row above, and vs the grid's base config
TAGS = ["tags.`pevl.vs_previous`", "tags.`pevl.changes`"]
RUN_COLUMNS = ["attributes.`Dataset`", *METRICS, *TAGS]
# The table's column ids (AG Grid's, as MLflow 3.17 names them) in the order shown, with widths in px.
COLUMN_ORDER = ["1", "attributes.`Run Name`", "runDateAndNestInfo", *METRICS, *TAGS, "attributes.`Dataset`", "duration"]
COLUMN_WIDTHS = {"attributes.`Run Name`": 220, "runDateAndNestInfo": 120, **dict.fromkeys(METRICS, 120),
                 "tags.`pevl.vs_previous`": 300, "tags.`pevl.changes`": 420, "attributes.`Dataset`": 300}


def table_state_script(exp_id: str, parent: str, columns: list[str]) -> str:
    """JavaScript editing the runs table's saved view (MLflow keeps it in localStorage): these
    columns, the grid parent expanded, the assistant panel closed."""
    key = f"MLflowLocalStorage-1.1-ExperimentPage-{json.dumps([exp_id])}-ReactComponentState"
    return f"""(() => {{
      const key = {json.dumps(key)};
      const state = JSON.parse(localStorage.getItem(key) || '{{}}');
      state.selectedColumns = {json.dumps(columns)};
      state.columnOrder = {json.dumps(COLUMN_ORDER)};
      state.columnWidths = {json.dumps(COLUMN_WIDTHS)};
      state.runsExpanded = {{...(state.runsExpanded || {{}}), {json.dumps(parent)}: true}};
      localStorage.setItem(key, JSON.stringify(state));
      {CLOSE_ASSISTANT};
      return Object.keys(state).length;
    }})()"""


def main(argv: list[str] | None = None) -> int:
    """Take every screenshot; the paths written are logged."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefect", default="http://127.0.0.1:4200", help="Prefect server URL")
    p.add_argument("--mlflow", default="http://127.0.0.1:5000", help="MLflow server URL")
    p.add_argument("--experiment", default="pevl-synthdive", help="MLflow experiment of the demo")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNGs")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prefect = args.prefect.rstrip("/")
    run_id = latest_flow_run(prefect)
    exp_id, parent, children = grid_runs(args.mlflow, args.experiment, run_id)
    shown = artifact_run(children)
    with browser() as page:
        shoot_prefect(page, prefect, run_id, args.out)
        shoot_mlflow_runs(page, args.mlflow.rstrip("/"), exp_id, parent, args.out)
        if shown:
            shoot_mlflow_artifacts(page, args.mlflow.rstrip("/"), exp_id, shown, args.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
