"""Pure NumPy/OpenCV functions (thresholds, augmentation); no torch."""
