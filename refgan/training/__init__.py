"""The machinery that trains, loads and saves the zoo's models (:mod:`refgan.gans`).

==============  ===============================================================
module          what it holds
==============  ===============================================================
``trainer``     :class:`~refgan.training.trainer.Trainer`: one loop for every model
``config``      ``TrainConfig``: every option, its type, default and check
``presets``     the named option sets (``cpu``, ``paper``, ...) and ``resolve``
``data``        ``GanData``: the training images and how they are grown
``monitor``     sample grids, metrics.jsonl and the failure flags
``checkpoint``  checkpoint files, resume, and the best checkpoint's choice
``run_folder``  every other file of the run folder (config.json, log.txt, ...)
``load``        rebuild a run's models from its checkpoint
``quality``     the closing figures (two-sample tests, KID, Table 1)
``sweep``       ``refgan sweep``: a learning-rate search over trials
==============  ===============================================================
"""
