"""Model registry (``create_model``) and checkpoints (``save_checkpoint`` / ``load_checkpoint``).

Architectures live in sibling modules that register themselves with ``@register``; the
registry imports every sibling module on first use, so adding a module adds its models.
"""
