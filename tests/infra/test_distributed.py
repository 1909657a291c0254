"""torchrun training on CPU (gloo): the sharded latent table, rank 0's checkpoint, resume after a kill."""
import os
import signal
import subprocess
import sys
import time

import torch
import yaml

from helpers import ROOT, make_project, run_stage
from vadlib.core.distributions import get_distribution
from vadlib.core.latents import initial_params
from vadlib.infra.config import load_params
from vadlib.infra.io import load_tensors
from vadlib.infra.runtime import generator

EPOCHS = 100  # long enough that the loss has flattened: the 2% comparison is about where training ends


def torchrun(folder, nproc, *args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(ROOT / "stages/train.py"), *args]
    return subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def run_torchrun(folder, nproc, *args):
    proc = torchrun(folder, nproc, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out + err


def test_world_size_one_equals_a_single_process_bit_for_bit(tmp_path):
    reference = make_project(tmp_path / "single", epochs=10, checkpoint_every=0)
    run_stage(reference, "train", "normal")
    single = load_tensors(reference / "models/normal.pt")
    project = make_project(tmp_path / "torchrun", epochs=10, checkpoint_every=0)
    run_torchrun(project, 1, "normal")
    model = load_tensors(project / "models/normal.pt")
    assert torch.equal(model["latents"], single["latents"])
    assert all(torch.equal(model["decoder"][k], single["decoder"][k]) for k in single["decoder"])
    assert model["history"] == single["history"]


def test_two_processes_reach_the_same_loss_and_write_a_checkpoint_fit_can_use(tmp_path):
    reference = make_project(tmp_path / "single", epochs=EPOCHS, checkpoint_every=0)
    run_stage(reference, "train", "normal")
    single = load_tensors(reference / "models/normal.pt")
    project = make_project(tmp_path / "two", epochs=EPOCHS, checkpoint_every=0)
    out = run_torchrun(project, 2, "normal")
    assert "x 2 processes" in out
    model = load_tensors(project / "models/normal.pt")
    assert model["latents"].shape == single["latents"].shape and set(model) == set(single)
    assert model["latents"][0].tolist() != single["latents"][0].tolist()  # really trained differently
    final, reference = model["history"]["loss"][-1], single["history"]["loss"][-1]
    assert abs(final - reference) <= 0.02 * reference, (final, reference)
    run_stage(project, "fit", "normal")
    assert load_tensors(project / "data/fitted/normal.pt")["test"].shape[0] == 40


def test_killed_two_process_run_resumes_to_the_uninterrupted_result(tmp_path):
    reference = make_project(tmp_path / "reference", epochs=30)
    run_torchrun(reference, 2, "normal")
    killed = make_project(tmp_path / "killed", epochs=30)
    proc = torchrun(killed, 2, "normal")
    shards = [killed / f"checkpoints/normal.rank{r}of2.pt" for r in (0, 1)]
    deadline = time.time() + 120
    while not all(p.exists() for p in shards) and time.time() < deadline:
        time.sleep(0.05)
    assert all(p.exists() for p in shards), "no periodic per-rank checkpoints appeared"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and not (killed / "models/normal.pt").exists()
    out = run_torchrun(killed, 2, "normal")
    assert "resuming from epoch" in out
    a, b = load_tensors(reference / "models/normal.pt"), load_tensors(killed / "models/normal.pt")
    assert torch.equal(a["latents"], b["latents"])
    assert all(torch.equal(a["decoder"][k], b["decoder"][k]) for k in a["decoder"])
    assert not list((killed / "checkpoints").glob("*.pt")), "per-rank resume files are dropped at the end"


def test_three_unequal_shards_gather_into_image_order(tmp_path):
    """40 images over 3 processes (14, 13, 13 rows): row i of the model's table must be image i's.

    Each image gets its own random start and the latent rate is tiny, so every row stays next to its image's start
    and the nearest start names the image a row belongs to."""
    project = make_project(tmp_path, epochs=2, checkpoint_every=0)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(batch_size=6, lr_latent=1e-3)
    params["variants"]["normal"]["init"] = "random"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run_torchrun(project, 3, "normal")
    latents = load_tensors(project / "models/normal.pt")["latents"]
    cfg = load_params(project / "params.yaml")
    v = cfg.variant("normal")
    starts = initial_params(get_distribution(v.distribution), 40, cfg.model.latent_dim, v.init, v.init_scale,
                            v.init_width, generator(cfg.seed, "init/normal"))
    assert latents.shape == starts.shape
    assert torch.cdist(latents, starts).argmin(1).tolist() == list(range(40))
    assert (latents - starts).abs().max() < 0.05  # each row near its start; the starts lie about 4 apart


def test_no_rank_drops_its_resume_file_before_the_model_is_written(tmp_path):
    """Rank 0's model write fails (a folder is in the way): every rank's resume file must survive, and the rerun
    resumes from them once the way is clear."""
    project = make_project(tmp_path, epochs=6, checkpoint_every=1)  # the epoch-5 resume files remain to the end
    blocker = project / "models/normal.pt"
    blocker.mkdir(parents=True)
    shards = [project / f"checkpoints/normal.rank{r}of2.pt" for r in (0, 1)]
    proc = torchrun(project, 2, "normal")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "cannot write" in err, err
    assert all(p.exists() for p in shards), [p.name for p in shards if not p.exists()]
    blocker.rmdir()
    out = run_torchrun(project, 2, "normal")
    assert "resuming from epoch 5" in out
    assert blocker.is_file() and not any(p.exists() for p in shards)


def test_a_batch_that_does_not_split_evenly_is_refused_with_a_clear_error(tmp_path):
    project = make_project(tmp_path, epochs=1)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["batch_size"] = 7
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    proc = torchrun(project, 2, "normal")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "train.batch_size: 7 is not divisible by the 2 processes" in err
