"""PNG grids of sampled tasks: the drawing lives in :mod:`metaaug.plotting`, re-exported here for the samplers."""

from metaaug.plotting import TaskPlotMixin, save_task_grid, task_grid

__all__ = ["TaskPlotMixin", "save_task_grid", "task_grid"]
