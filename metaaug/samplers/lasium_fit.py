"""LASIUM's backend: which kind it is, fitting it (training, encoding, probing) and decoding latents with it.

:class:`LASIUMBackend` is a mixin of :class:`metaaug.samplers.lasium.LASIUM`,
which keeps the paper's sampling algorithm; the training loops are in
:mod:`metaaug.samplers.lasium_backends`, a user's generator's decoding and
output handling in :mod:`metaaug.samplers.generator_backend`.
"""

from __future__ import annotations

import time
from numbers import Real
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from metaaug._random import check_rng, torch_seeded
from metaaug.data.images import is_line_drawing
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.distributed import DistributedTrainingError, current_group, failing_stops_all, split_torch_streams
from metaaug.generators.autoencoders import InterpolativeAutoencoder
from metaaug.nets.autoencoders import ARCHITECTURES as AE_ARCHITECTURES
from metaaug.nets.msgan import MSGANGenerator
from metaaug.nets.vae import LASIUM_ARCHITECTURES, ConvVAE, default_lasium_architecture
from metaaug.samplers import generator_backend as gb
from metaaug.samplers import lasium_backends as backends
from metaaug.samplers._common import fitted
from metaaug.samplers.class_bank import ClassBank

if TYPE_CHECKING:
    from metaaug.base import MetaaugEstimator as _Base
else:
    _Base = object


class LASIUMBackend(_Base):
    """Backend resolution, ``fit`` and decoding of LASIUM (its parameters are documented there)."""

    backend: Any
    anchors: str
    prior: Any
    output_range: Any
    image_size: int | None
    channels: int | None
    latent_dim: int | None
    epochs: int | None
    max_time: float | None
    batch_size: int
    lr: float | None
    hidden: int | None
    architecture: str
    beta: float | None
    mode_seeking: float
    binarize: bool | str
    decode_batch_size: int
    verbose: bool
    random_state: Any
    device: Any
    image_shape_: tuple[int, ...]
    backend_kind_: str

    def _setting(self, name: str) -> Any:
        """A VAE / GAN setting: the parameter, or the backend's default when it is ``None``."""
        value = getattr(self, name)
        if value is not None:
            return value
        defaults = backends.DEFAULTS[self.backend_kind_]
        if getattr(self, "architecture_", "characters") == "natural":
            defaults = {**defaults, **backends.NATURAL_DEFAULTS[self.backend_kind_]}
        return defaults[name]

    def _validate_relations(self) -> None:
        rng = self.output_range
        if rng != "auto" and not (
            len(rng) == 2 and all(isinstance(v, Real) for v in rng) and float(rng[0]) < float(rng[1])
        ):
            raise ValueError(f"output_range must be 'auto' or (low, high) with low < high, got {rng!r}")
        self._check_architecture()
        encodes = self._external_kind() == "custom" or (isinstance(self.backend, str) and self.backend == "vae")
        if self.anchors == "data" and not encodes:
            raise ValueError(
                "anchors='data' encodes the training images and needs a backend with encode(); "
                f"backend {self._backend_name()} has none: use anchors='prior' (or 'auto')"
            )

    def _check_architecture(self) -> None:
        """``architecture`` must name networks of the backend: the VAE's / GAN's or the autoencoder's."""
        if self.architecture == "auto":
            return
        backend = self.backend if isinstance(self.backend, str) else None
        if backend in ("vae", "gan"):
            valid: tuple[str, ...] = LASIUM_ARCHITECTURES
        elif backend is not None:
            valid = AE_ARCHITECTURES
        else:
            valid = ()
        if self.architecture not in valid:
            allowed = f"'auto' or one of {valid}" if valid else "'auto' (the networks are the user's)"
            raise ValueError(
                f"architecture {self.architecture!r} does not apply to backend {self._backend_name()}: use {allowed}"
            )

    def _backend_name(self) -> str:
        return repr(self.backend) if isinstance(self.backend, str) else f"of type {type(self.backend).__name__}"

    def _external_kind(self) -> str | None:
        """``"custom"`` (has ``encode``: metaaug autoencoders too) or ``"generator"``; ``None`` for VAE / GAN."""
        if isinstance(self.backend, str) and self.backend in ("vae", "gan"):
            return None
        return (
            "custom"
            if isinstance(self.backend, str) or callable(getattr(self.backend, "encode", None))
            else "generator"
        )

    def _anchor_mode(self, kind: str | None = None) -> str:
        """``anchors`` resolved for backend ``kind`` (default: the fitted one): ``"prior"`` or ``"data"``."""
        if self.anchors != "auto":
            return str(self.anchors)
        kind = kind or getattr(self, "backend_kind_", None) or self._external_kind() or str(self.backend)
        return "prior" if kind in ("gan", "generator") else "data"

    # ------------------------------------------------------------------ fit
    def _build_modules(self) -> None:
        shape = (self.image_shape_[0], self.image_shape_[1], self.image_shape_[2])
        latent_dim, hidden = self._setting("latent_dim"), self._setting("hidden")
        architecture = getattr(self, "architecture_", "characters")  # model files saved before it existed
        if self.backend_kind_ == "vae":
            self.backend_: Any = ConvVAE(shape, latent_dim, hidden, architecture)
        elif self.backend_kind_ == "gan":
            self.backend_ = MSGANGenerator(shape, latent_dim, hidden, architecture)

    def fit(self, X: Any = None, y: Any = None) -> Self:
        """Train the backend on unlabeled images ``X`` (``y`` is ignored).

        With ``"data"`` anchors ``X`` is also encoded: its images are the
        anchors of the sampled tasks. A ready generator with ``"prior"``
        anchors needs no images (``fit()``); it is probed with a few latents
        to check its latent size and outputs and to read its output range.

        When a ``torch.distributed`` process group with several processes is
        running (e.g. under ``torchrun``), call ``fit`` on every rank with the
        same parameters: the VAE / GAN (and an ``"ae"`` / ``"intae"`` /
        ``"augintae"`` backend) trains data-parallel, each rank on its share
        of every batch, and all ranks end with the same backend.
        """
        self._validate_params()
        kind = self._external_kind() or str(self.backend)
        if X is None:
            if isinstance(self.backend, str) or self._anchor_mode(kind) == "data":
                raise ValueError(
                    f"fit() needs images X for backend {self._backend_name()} with anchors={self.anchors!r}: only a "
                    "ready generator with anchors from its prior (anchors='prior') is used without images"
                )
        else:
            X = as_image_source(X, min_count=2)
        self.backend_kind_ = kind
        self._class_bank: ClassBank | None = None  # a refit backend makes the banked classes stale
        group = current_group()
        rng = group.common_rng(self.random_state, "LASIUM") if group is not None else check_rng(self.random_state)
        with torch_seeded(rng):
            if kind in ("vae", "gan"):
                self._fit_builtin(X, rng)
            else:
                self._fit_external(X)
        return self

    def _fit_builtin(self, X: ImageSource, rng: np.random.Generator) -> None:
        kind = self.backend_kind_
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        shape = (self.image_shape_[0], self.image_shape_[1], self.image_shape_[2])
        self.architecture_ = default_lasium_architecture(shape) if self.architecture == "auto" else self.architecture
        self._init_modules()
        self.backend_.to(self._device())
        settings = backends.TrainingSettings(
            self._setting("epochs"), self.batch_size, self._setting("lr"), self.max_time, self.verbose, self._device()
        )
        group = settings.group = current_group()
        if group is not None:
            group.check_parameters([self.backend_], "LASIUM")
            settings.order = split_torch_streams(group, rng)
        with failing_stops_all(group):
            if kind == "vae":
                beta = 1.0 / self._setting("latent_dim") if self.beta is None else self.beta
                log = backends.train_vae(self.backend_, X, settings, beta)
            else:
                log = backends.train_gan(self.backend_, X, settings, self.mode_seeking)
            if group is not None:
                group.average_buffers([self.backend_])
        self.backend_.eval()
        self.loss_curve_, self.loss_terms_ = log.arrays()
        self.n_iter_, self.fit_time_ = log.n_iter, log.fit_time
        self.line_drawings_ = is_line_drawing(X.preview())
        self.anchor_images_: torch.Tensor | ImageSource
        if kind == "gan":
            self.anchor_images_ = torch.zeros(0, *self.image_shape_)
            self.latent_mean_ = self.latent_log_variance_ = torch.zeros(0, self._setting("latent_dim"))
        else:
            self.anchor_images_ = X.cpu()
            self.latent_mean_, self.latent_log_variance_, _ = backends.encode_images(
                self.backend_, kind, X, self.decode_batch_size, self._device()
            )

    def _fit_external(self, X: ImageSource | None) -> None:
        """A user's generator or codec (or a metaaug autoencoder): fit if needed, encode ``X``, probe the decoder."""
        start = time.perf_counter()
        backend = self._fitted_custom_backend(X) if X is not None else self.backend
        gb.check_device(backend, self.device)
        self.backend_ = backend
        device = gb.backend_device(backend, self._device())
        if X is not None and self.backend_kind_ == "custom":
            self.latent_mean_, self.latent_log_variance_, shape = backends.encode_images(
                backend, "custom", X, self.decode_batch_size, device
            )
            self.latent_shape_: tuple[int, ...] = shape or (self.latent_mean_.shape[1],)
            self.latent_dim_ = int(self.latent_mean_.shape[1])
        else:
            self.latent_dim_ = gb.generator_latent_dim(backend, self.latent_dim)
            self.latent_shape_ = (self.latent_dim_,)
            self.latent_mean_ = self.latent_log_variance_ = torch.zeros(0, self.latent_dim_)
        data_shape = None if X is None else (int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
        if self._anchor_mode() == "prior" or len(self.latent_mean_) == 0:
            probe_latents = gb.sample_prior(self.prior, (8, self.latent_dim_))
        else:
            probe_latents = self.latent_mean_[:8]
        raw = gb.probe(backend, probe_latents, self.latent_shape_, data_shape, self._device())
        self.output_range_ = gb.detect_range(raw, self.output_range)
        c, h, w = data_shape or (int(raw.shape[1]), int(raw.shape[2]), int(raw.shape[3]))
        self.image_shape_ = (self.channels or c, self.image_size or h, self.image_size or w)
        gb.OutputSpec(*self.output_range_, self.image_shape_).images(raw, len(raw))  # range and conversion checks
        if self._anchor_mode() == "data" and self.image_shape_ != data_shape:
            raise ValueError(
                f"anchors='data' puts the real images {data_shape} into the tasks, so image_size and channels "
                f"must match them (got {self.image_shape_}); leave them None"
            )
        self.anchor_images_ = X.cpu() if X is not None else torch.zeros(0, *self.image_shape_)
        self.line_drawings_ = X is not None and is_line_drawing(X.preview())
        self.loss_curve_, self.loss_terms_ = backends.TrainingLog().arrays()
        self.n_iter_, self.fit_time_ = 0, time.perf_counter() - start

    def _fitted_custom_backend(self, X: ImageSource) -> Any:
        if isinstance(self.backend, str):  # "ae", "intae", "augintae": a new metaaug autoencoder
            return backends.fit_autoencoder(
                self.backend,
                X,
                epochs=self.epochs,
                max_time=self.max_time,
                latent_dim=self.latent_dim,
                hidden=self.hidden,
                lr=self.lr,
                architecture=None if self.architecture == "auto" else self.architecture,
                verbose=self.verbose,
                device=self.device,
            )
        if current_group() is not None:
            self._check_parallel_backend()
        return fitted(self.backend, X)

    def _check_parallel_backend(self) -> None:
        """In a data-parallel fit, refuse a user's unfitted estimator whose ``fit`` would not split its work."""
        backend = self.backend
        if getattr(backend, "_data_parallel", False) or not hasattr(backend, "get_params"):
            return
        try:
            check_is_fitted(backend)
        except NotFittedError:
            raise DistributedTrainingError(
                f"LASIUM: the backend {type(backend).__name__} is not fitted and does not train data-parallel; "
                "fit it first (in one process) and pass the fitted backend"
            ) from None
        except TypeError:  # not an estimator: nothing to fit
            pass

    # step 3: decoding, in one batched pass
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self.backend_kind_ in ("vae", "gan"):
            images = backends.decode_latents(
                self.backend_, self.backend_kind_, latents, self.decode_batch_size, self._device()
            )
        else:
            low, high = getattr(self, "output_range_", (0.0, 1.0))
            spec = gb.OutputSpec(low, high, self.image_shape_)  # type: ignore[arg-type]
            shape = getattr(self, "latent_shape_", latents.shape[1:])
            raw = gb.run_decoder(self.backend_, latents, shape, self.decode_batch_size, self._device())
            images = torch.cat([spec.images(out, len(out)) for out in raw])
        if self._binarizes():
            images = (images > 0.5).float()
        return images.clamp(0, 1)

    def _binarizes(self) -> bool:
        """``binarize`` resolved: "auto" thresholds autoencoder decodings of line drawings."""
        if self.binarize != "auto":
            return bool(self.binarize)
        if not isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder):
            return False
        if getattr(self, "line_drawings_", None) is None:  # models saved before the attribute existed
            self.line_drawings_ = is_line_drawing(as_image_source(self.anchor_images_).preview())
        return bool(self.line_drawings_)
