"""`reprodiag colab-notebook --out FILE`: save the Colab notebook that carries this reprodiag.

The notebook embeds this installed reprodiag (code and data, not the GUI), so Colab runs the
same canaries as this machine without installing reprodiag from any index. Upload it to
Google Colab (File > Upload notebook), run all cells, and compare the bundle it downloads.
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "colab-notebook", help="save the Colab notebook (it carries this reprodiag)",
        description=__doc__.split("\n", 1)[1].strip())
    p.add_argument("--out", metavar="FILE", required=True,
                   help="where to write the notebook, e.g. reprodiag_colab.ipynb")
    p.set_defaults(handler=run)


def run(args) -> int:
    from reprodiag.commands.common import EXIT_OK, out_path
    from reprodiag.colab import NOTEBOOK
    from reprodiag.colab_notebook import write_notebook

    path = write_notebook(out_path(args.out, example=NOTEBOOK))
    print(f"wrote {path} ({path.stat().st_size // 1024} KB): upload it to Google Colab "
          "(File > Upload notebook) and run all cells")
    return EXIT_OK
