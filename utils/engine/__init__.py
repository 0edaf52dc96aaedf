"""What runs any model, whatever its task: checkpoints, precision and devices, processes."""
