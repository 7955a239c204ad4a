"""Pure DataFrame -> DataFrame building blocks shared by the layers."""
