"""Embedders: turn texts into unit-length float32 vectors.

Names (``Settings.embedder``): "minilm" (all-MiniLM-L6-v2 on ONNX Runtime when onnxruntime is
installed, else on torch; the same vectors either way), "minilm-onnx", "minilm-int8" (its weights
quantized to int8: vectors within cosine ~0.99, ~2x faster), "minilm-torch" (through
sentence-transformers), "fast" / "static-minilm" (a static embedder distilled from MiniLM: other
vectors, ~50x faster), "hashing" (no model, for tests). Submodules load their runtimes lazily.
"""
