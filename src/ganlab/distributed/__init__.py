"""Distributed training: strategy building for the trainer (:mod:`.strategy`), and FSDP2
sharding (:mod:`.sharding`) and sharded-tensor helpers (:mod:`.tensors`) for the engine.

The engine may import :mod:`.sharding` and :mod:`.tensors`; only the trainer and the CLI import
:mod:`.strategy`.
"""
