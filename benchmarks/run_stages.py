"""The pipeline without DVC (a GPU image may have none): every stage of dvc.yaml, its `foreach` stages expanded over
params.yaml's variants, one process each as `dvc repro` runs them, each started once the stages whose outputs it
reads have finished; with --jobs N up to N at a time (the four variants' chains side by side on one GPU). Each
process is timed with its imports and device start-up. The stages write their outputs in the project folder, as
`dvc repro` does.

    python benchmarks/run_stages.py --list             # the stage commands in a valid order; runs nothing
    python benchmarks/run_stages.py --out DIR [--jobs N]

Writes DIR/pipeline.txt (environment, seconds per stage process in the order they finished, the whole wall time,
each stage's last line), each stage's log in DIR/logs/ and a copy of metrics/ in DIR/metrics/.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import yaml


def _paths(items) -> list[str]:
    return [next(iter(i)) if isinstance(i, dict) else i for i in items or []]


def stages(project: Path) -> list[tuple[str, list[str], list[str]]]:
    """(command without `python `, deps, outs) per stage process, foreach stages expanded in variant order."""
    dvc = yaml.safe_load((project / "dvc.yaml").read_text())
    variants = list(yaml.safe_load((project / "params.yaml").read_text())["variants"])
    out = []
    for name, spec in dvc["stages"].items():
        if "foreach" in spec:
            if spec["foreach"] != "${variants}":
                raise SystemExit(f"error: dvc.yaml stage {name}: only `foreach: ${{variants}}` is understood")
            expanded = [(v, spec["do"]) for v in variants]
        else:
            expanded = [(None, spec)]
        for key, body in expanded:
            sub = (lambda s, k=key: s.replace("${key}", k)) if key else (lambda s: s)
            cmd = sub(body["cmd"])
            if not cmd.startswith("python "):
                raise SystemExit(f"error: dvc.yaml stage {name}: expected a `python ...` command, got {cmd!r}")
            outs = [sub(p) for k in ("outs", "metrics", "plots") for p in _paths(body.get(k))]
            out.append((cmd[len("python "):], [sub(p) for p in _paths(body.get("deps"))], outs))
    return out


def _reads(dep: str, out: str) -> bool:
    dep, out = dep.rstrip("/"), out.rstrip("/")
    return dep == out or out.startswith(dep + "/") or dep.startswith(out + "/")


def producers(items) -> list[set[int]]:
    """For each stage, the stages that write something it reads."""
    return [{j for j, (_, _, outs) in enumerate(items) if j != i for d in deps for o in outs if _reads(d, o)}
            for i, (_, deps, _) in enumerate(items)]


def order(items) -> list[int]:
    """Stable: each time the first stage in dvc.yaml's order whose producers have all run."""
    needs, done, seq = producers(items), set(), []
    while len(seq) < len(items):
        i = next((i for i in range(len(items)) if i not in done and needs[i] <= done), None)
        if i is None:
            raise SystemExit("error: dvc.yaml's stages depend on each other in a cycle")
        done.add(i)
        seq.append(i)
    return seq


def label(cmd: str) -> str:
    script, *args = shlex.split(cmd)
    return " ".join([Path(script).stem, *args])


def run_all(project: Path, out: Path, jobs: int, python: str) -> list[str]:
    """Run every stage, at most `jobs` at a time, each once its producers finished; returns the report's lines."""
    items = stages(project)
    needs, seq = producers(items), order(items)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    lines, done, running, failed = [], set(), {}, None

    def one(i: int) -> float:
        cmd = items[i][0]
        log = out / "logs" / (label(cmd).replace(" ", "_") + ".txt")
        t = time.perf_counter()
        with open(log, "w") as fh:
            code = subprocess.run([python, *shlex.split(cmd)], cwd=project, stdout=fh, stderr=subprocess.STDOUT).returncode
        if code:
            raise RuntimeError(f"{label(cmd)} failed (exit {code}):\n" + "".join(log.read_text().splitlines(True)[-20:]))
        return time.perf_counter() - t

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while len(done) < len(items) and failed is None:
            for i in seq:  # start what is ready, in the stable order
                if len(running) < jobs and i not in done and i not in running.values() and needs[i] <= done:
                    running[pool.submit(one, i)] = i
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                i = running.pop(f)
                if f.exception():
                    failed = f.exception()
                    continue
                done.add(i)
                line = f"{label(items[i][0])} {f.result():.1f}"
                print(line, flush=True)
                lines.append(line)
        for f in running:  # let what is in flight end before the error is reported
            f.exception()
    if failed:
        raise SystemExit(f"error: {failed}")
    lines.append(f"pipeline_wall {time.perf_counter() - start:.1f}")
    print(lines[-1], flush=True)
    return lines


def environment(python: str) -> list[str]:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True) if shutil.which("nvidia-smi") else None
    torch = subprocess.run([python, "-c", "import sys, torch; print('python', sys.version.split()[0], 'torch', "
                            "torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"],
                           capture_output=True, text=True)
    return [gpu.stdout.strip() if gpu and gpu.returncode == 0 else "gpu: none", torch.stdout.strip()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=str(Path(__file__).resolve().parents[1]), help="the project folder")
    ap.add_argument("--out", default="gpu_out", help="where pipeline.txt, logs/ and metrics/ go")
    ap.add_argument("--jobs", type=int, default=1, help="stage processes at a time (default 1, as dvc repro)")
    ap.add_argument("--list", action="store_true", help="print the stage commands in a valid order; run nothing")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs the stages")
    args = ap.parse_args(argv)
    project, out = Path(args.project).resolve(), Path(args.out).resolve()
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs: got {args.jobs}, expected an integer >= 1")
    items = stages(project)
    if args.list:
        print("\n".join(items[i][0] for i in order(items)))
        return
    out.mkdir(parents=True, exist_ok=True)
    head = [*environment(args.python), f"# seconds per stage process (--jobs {args.jobs}), imports and device "
            "start-up included, in the order they finished"]
    lines = run_all(project, out, args.jobs, args.python)
    tails = [log.read_text().rstrip().splitlines()[-1] for log in sorted((out / "logs").glob("*.txt"))
             if log.read_text().strip()]
    (out / "pipeline.txt").write_text("\n".join([*head, *lines, "# the stages' own last lines", *tails]) + "\n")
    if (project / "metrics").is_dir():
        shutil.copytree(project / "metrics", out / "metrics", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
