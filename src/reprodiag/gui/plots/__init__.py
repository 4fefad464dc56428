"""pyqtgraph plots fed from numpy buffers and refreshed by one timer."""
