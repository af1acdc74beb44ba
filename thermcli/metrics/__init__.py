"""Metrics: COCO keypoint OKS evaluation (``oks``) and model cost (``cost``)."""
