"""The shared base: errors, config resolvers and tree, instantiation, checkpoint and file I/O, run history, the
Lightning compatibility layer. It imports nothing of data, models, training or the commands."""
