"""Options of the product's distributed strategies (`Training.ddp`, `.fsdp`, `.deepspeed`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganlab.config.base import Section


class DDPConfig(Section):
    """Options of the `ddp` strategy (distributed data parallel)."""

    find_unused_parameters: bool = Field(
        True,
        description="Let DDP detect parameters without gradients in a step. Needed for GANs: "
        "generator and discriminator take turns, so one of them gets no gradient in some steps.",
    )
    static_graph: bool = Field(
        False,
        description="Tell DDP the set of used parameters never changes between steps (faster; "
        "only valid when the discriminator is updated on every step from the first step).",
    )
    process_group_backend: Literal["nccl", "gloo", "mpi"] | None = Field(
        None, description="Communication backend; null: nccl on CUDA GPUs, gloo otherwise."
    )


class FSDPConfig(Section):
    """Options of the `fsdp` strategy (FSDP2 `fully_shard` through Lightning's
    ModelParallelStrategy)."""

    auto_wrap: list[str] = Field(
        default_factory=list,
        description="Module classes sharded as units of their own, by class name "
        "(`RRDB`) or import path (`pkg.module:Class`); the generator and the discriminator "
        "are always sharded as wholes.",
    )
    mixed_precision: Literal["bf16", "16"] | None = Field(
        None,
        description="Keep the sharded parameters in this dtype for forward/backward (gradients "
        "reduced in float32); null uses the dtype of Training.precision.",
    )
    cpu_offload: bool = Field(
        False, description="Keep sharded parameters and optimiser states in CPU memory."
    )
    save_distributed_checkpoint: bool = Field(
        False,
        description="false: rank 0 writes one full `.ckpt` (resumable on any device count, "
        "generator exports written); true: every rank writes its shard into a folder.",
    )

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _mixed_precision_as_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 16:
            return "16"
        return value


class DeepSpeedConfig(Section):
    """Options of the `deepspeed` strategy (ZeRO; CUDA only, joint optimisation mode only)."""

    stage: Literal[1, 2, 3] = Field(2, description="ZeRO stage.")
    offload_optimizer: bool = Field(False, description="Keep optimiser states in CPU memory.")
    offload_parameters: bool = Field(
        False, description="Keep parameters in CPU memory (stage 3 only)."
    )
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description="DeepSpeed's train_micro_batch_size_per_gpu; null: Data.batch_size.",
    )

    @model_validator(mode="after")
    def _offload_needs_stage_3(self) -> DeepSpeedConfig:
        if self.offload_parameters and self.stage != 3:
            raise ValueError(
                f"offload_parameters needs stage 3 (got stage {self.stage}); set stage: 3 or "
                "offload_parameters: false"
            )
        return self


PRODUCT_STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
"""Strategies configured by the product; any other name goes to Lightning's registry."""
