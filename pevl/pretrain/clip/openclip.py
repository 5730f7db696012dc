"""`python -m pevl.pretrain.clip.openclip ARGS`: open_clip's own trainer with the project's configs.

open_clip_train finds `--model` among open_clip's registered configs; this entry point registers
the packaged tiny configs first and keeps torch to the requested threads, then hands every
argument to `open_clip_train.main.main` unchanged. It runs in a child process (train.py)
because open_clip_train sets up the root logger and global seeds for its whole process.

One adapter: webdataset 1.0.2 (the project's pin) ends every shard with an empty end-of-shard
marker that open_clip_train 3.3.0's own tar grouping does not expect (KeyError 'fname'), so its
`tarfile_to_samples_nothrow` is replaced by the same pipeline without that marker.
"""

import os
import sys


def _tar_samples(src, handler=None):
    """open_clip_train's tar -> samples stage, with webdataset's end-of-shard marker turned off."""
    from open_clip_train import data
    from webdataset.tariterators import tar_file_expander, url_opener

    handler = handler or data.log_and_continue
    files = tar_file_expander(url_opener(src, handler=handler), handler=handler, eof_value=None)
    return data.group_by_keys_nothrow(files, handler=handler)


def main(argv: list[str]) -> int:
    """Register the tiny configs, set the torch threads ($PEVL_THREADS, default 1), run the trainer."""
    import torch
    from open_clip_train import data
    from open_clip_train.main import main as train_main

    from pevl.model.backbone import register_tiny_config
    from pevl.pretrain.clip.model import register_configs

    torch.set_num_threads(int(os.environ.get("PEVL_THREADS", "1")))
    register_tiny_config()
    register_configs()
    data.tarfile_to_samples_nothrow = _tar_samples
    train_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
