"""Train the demo LLaVA from scratch on the synthetic world.

Command line (the committed checkpoint was made with the defaults)::

    python -m whytoken.experiments.training.train --out whytoken/data/whytoken-demo --seed 0

(``python -m whytoken.experiments.train``, the command recorded in the
committed checkpoint's metadata, still runs it.) The pieces live in
:mod:`~whytoken.experiments.training.config` (:class:`TrainConfig`),
:mod:`~whytoken.experiments.training.batches`,
:mod:`~whytoken.experiments.training.losses`,
:mod:`~whytoken.experiments.training.loop` (:func:`train`) and
:mod:`~whytoken.experiments.training.checkpoint` (:func:`save_checkpoint`);
this module is the command.

Recipe
------
* **Data.** Each step draws ``images_per_step`` fresh training-split samples
  (world seeds ``seed * 10**8 + step * images_per_step + i``, kinds
  round-robin) and asks ``questions_per_image`` questions about each image:
  the sample's own question first, then questions from
  :func:`~whytoken.experiments.worlds.demo.questions_about` (a kind drawn with
  ``kind_weights``, which favour the slow-to-learn ``exists`` and ``relation``;
  then an answer uniformly among those the scene offers; then a question with
  that answer, preferring hard negatives for ``exists``/``no``, see
  :func:`~whytoken.experiments.training.batches.pick_questions`). Every
  question is its own row, ``<s> question <image>*36 answer : a </s>``; the
  vision tower runs once per image and its features are shared by the rows of
  that image (:func:`~whytoken.experiments.training.batches.hidden_states`,
  equal to the plain forward).
* **Augmentation** (answer-preserving): with probability ``blank_prob`` 1-3
  random *empty* cells are painted flat background grey, the edit the
  intervention check makes, so a blanked patch reads as "empty".
* **Vision pre-training** (``vision_steps``, a stand-in for the CLIP
  pre-training a real LLaVA's vision tower has had): vision tower, projector
  and probe (below) alone learn to describe cells, on a pool of
  ``vision_pool`` rendered training scenes, before the language model starts.
* **Loss.** Cross-entropy on the answer token and the ``</s>`` after it
  (prompt tokens are not supervised), plus three auxiliary terms that are
  discarded with their linear heads (the saved model is a plain
  ``LlavaForConditionalGeneration``):

  - ``aux_weight`` x the *cell probe*: on each image token at the projector's
    output, the shape, the colour and the colour-and-shape pair in its own
    cell and, with ``probe_neighbours``, the colour-and-shape pair in the cell
    left of, right of, above and below it (or "empty"). Without the
    neighbour part the language model did not learn ``relation`` within 2500
    steps in any variant tried: under the causal mask an image token cannot
    look at later cells, so "the shape left of the X" must be read off the X
    token, which then has to know its neighbours. The price: image tokens
    are not local (see :func:`~whytoken.experiments.training.evaluate.feature_leakage`).
  - ``cause_weight`` x the *cause probe*: on each image token at the input of
    the last language-model layer, whether the patch is one of the question's
    ground-truth cause patches (binary cross-entropy), and, with weight
    ``answer_weight``, whether the answer is read from it (the cause patches,
    except that for ``relation`` only the neighbour cell counts). It asks the
    lower layers to find the cells the question is about, the step on which
    ``exists`` and ``relation`` otherwise stall for thousands of steps.
  - ``attention_weight`` x ``-log`` of the attention mass head 0 of the last
    layer puts on the cause patches from the answer position (off by default:
    it did not help).
* **Optimiser.** AdamW (weight decay 0.01, betas 0.9/0.98); linear warm-up,
  constant ``lr``, then a linear decay to 5 % over the last ``decay_fraction`` of
  the steps (each question kind "clicks" after a plateau of its own; a long
  high-rate phase reached them sooner than a cosine schedule); gradient norm
  clipped at 1.
* **Output.** ``save_pretrained`` of model and processor plus
  ``whytoken_demo.json`` (world, architecture, recipe, command, wall time,
  history, versions, test accuracy per kind, intervention rates, feature
  leakage).

Threads: the default is one torch thread. On the shared 2-core machine two
threads were up to 10x *slower* per step whenever other jobs ran (OpenMP
threads spin waiting for each other); ``--threads 2`` helps only on an idle
machine.

Determinism: given the seed, the thread count and the torch build a run
repeats exactly (all randomness is seeded and the CPU kernels used are
deterministic for a fixed thread count). Other thread counts or CPUs can
change the last bits of float sums and hence the trained weights.

Examples
--------
>>> from whytoken.experiments.training.config import TrainConfig
>>> TrainConfig(steps=10).answers_seen
640
>>> PROG
'python -m whytoken.experiments.training.train'
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from whytoken.experiments.training.checkpoint import save_checkpoint
from whytoken.experiments.training.config import TrainConfig
from whytoken.experiments.training.demo_model import DemoArchitecture
from whytoken.experiments.training.loop import train
from whytoken.experiments.worlds.demo import KINDS

__all__ = ["PROG", "main"]

logger = logging.getLogger(__name__)

#: The command, as recorded in the checkpoint's metadata (``train_command``).
PROG = "python -m whytoken.experiments.training.train"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    defaults = TrainConfig()
    arch = defaults.architecture
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    for name in ("seed", "steps", "images_per_step", "questions_per_image", "warmup", "threads", "eval_every",
                 "eval_n", "test_n", "intervention_n", "vision_steps", "vision_batch", "vision_pool"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "blank_prob", "aux_weight", "cause_weight", "attention_weight",
                 "answer_weight", "decay_fraction"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--no-probe-neighbours", dest="probe_neighbours", action="store_false",
                        help="do not ask the probe for the neighbour cells' shapes (keeps image tokens local)")
    parser.add_argument("--kind-weights", type=float, nargs=len(KINDS), default=list(defaults.kind_weights),
                        metavar="W", help=f"weights of the extra questions' kinds {list(KINDS)}")
    for name, value in arch.to_dict().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    architecture = DemoArchitecture(**{k: getattr(args, k) for k in arch.to_dict()})
    config = TrainConfig(
        **{k: getattr(args, k) for k in asdict(defaults) if k not in ("architecture", "world", "kind_weights")},
        kind_weights=tuple(args.kind_weights),
        architecture=architecture,
    )
    command = PROG + " " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    result = train(config)
    metadata = save_checkpoint(result, config, args.out, command)
    logger.info(
        "trained in %.1f s; test accuracy %s", result.train_seconds,
        {k: round(v["accuracy"], 4) for k, v in metadata["accuracy"]["per_kind"].items()},
    )
    logger.info(
        "interventions %s",
        {k: metadata["interventions"][k] for k in ("n_eligible", "cause_change_rate", "empty_change_rate",
                                                    "distractor_change_rate")},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
