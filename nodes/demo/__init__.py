"""The bundled demo model: procedural training data, training and evaluation."""
