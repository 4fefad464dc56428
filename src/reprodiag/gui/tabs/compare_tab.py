"""Compare tab: several environments (bundles, this machine's runs, pasted environment
reports) against a reference.

Pairs, verdicts and the environment diff all come from core.compare.compare_bundles, which
takes anything with .label/.snapshot/.runs -- so the tab hands it each source narrowed to
the ticked runs. A bundle that fails to load is listed with its error; the others stay.
Sources keep the order they were asked for, and their labels are told apart in that order
(distinct_labels). Under the plots, for the environment chosen above them, tabs show
core.diagnose's findings (with fixes to copy or rerun), the run pairs, the environment diff,
the align plan, with several seeds per side the seed statistics, and the layers;
"Explain this difference" reruns a selected canary pair one factor at a time.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from reprodiag import __version__
from reprodiag.core.bundle import Bundle, read_bundle
from reprodiag.core.compare import BundleComparison, compare_bundles
from reprodiag.core.compare.envdiff import diff_env
from reprodiag.core.compare.runs import IDENTICAL, VERDICT_LABELS, Verdict
from reprodiag.core.diagnose import align, comparable_sides, diagnose_comparison
from reprodiag.core.env.foreign import import_report_file, report_kind
from reprodiag.core.env.model import Snapshot
from reprodiag.core.naming import distinct_names
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.numbering import RunNumbers
from reprodiag.core.runs.record import RunRecord, reading
from reprodiag.core.wording import counted, distinguishing
from reprodiag.errors import UserError
from reprodiag.gui import theme
from reprodiag.gui.plots.curves import CurveSpec, CurvesView, DiffSpec, LegendEntry
from reprodiag.gui.state import AppState
from reprodiag.gui.widgets.align_view import AlignView
from reprodiag.gui.widgets.dialogs import OPEN_FILTER, ask_open_paths, report
from reprodiag.gui.widgets.env_diff_table import EnvDiffTable
from reprodiag.gui.widgets.explain_dialog import ExplainDialog, explainable, open_explain
from reprodiag.gui.widgets.findings_view import FindingsView
from reprodiag.gui.widgets.fix_check import FixCheck
from reprodiag.gui.widgets.layers_view import LayersView
from reprodiag.gui.widgets.paste_report_dialog import PasteReportDialog
from reprodiag.gui.widgets.seed_stats_view import SeedStatsView
from reprodiag.gui.widgets.source_tree import Source, SourceTree
from reprodiag.gui.widgets.verdict_table import VerdictTable

LOCAL = "__local__"
# Line style per environment: the reference solid, the others dashed/dotted.
STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
          Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine)
DIAGNOSIS, PAIRS, ENVIRONMENT, MATCH, SEEDS, LAYERS = range(6)  # the details' tabs
TITLE_OTHERS = 2  # environments named in the window title; more are counted
LAYERS_HEIGHT = 360  # pixels the details get at least when the Layers tab is brought up


def run_names(runs: list[RunRecord], limit: int = 36) -> list[str]:
    """What tells each run's config apart from the others' ('seed=0', 'seed=1'), for the
    legend: the parts of their short labels that not all of them share (all of it for one)."""
    names = distinguishing([run.config.short_label() for run in runs])
    return [name if len(name) <= limit else name[: limit - 1] + "…" for name in names]


def distinct_labels(sources: list[Source]) -> list[str]:
    """Each source's name, told apart from the others' in the order given (core.naming)."""
    return distinct_names([(s.name or s.label, s.path) for s in sources])


def looks_like_bundle(path: str) -> bool:
    """A .zip name or zip magic: read as a bundle; anything else as an environment report."""
    if path.lower().endswith(".zip"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return True  # let the bundle reader name the problem


def read_source(path: str) -> Bundle | Snapshot:
    """A bundle, or the snapshot of an environment report file; UserError (one line) else."""
    return read_bundle(path) if looks_like_bundle(path) else import_report_file(path)


def _table_page(caption: QLabel, control: QWidget, table: QWidget) -> QWidget:
    """A details tab: a caption and a control above a table."""
    page = QWidget()
    page.setToolTip(table.toolTip())
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 2, 0, 0)
    layout.setSpacing(2)
    bar = QHBoxLayout()
    bar.addWidget(caption, 1)
    bar.addWidget(control)
    layout.addLayout(bar)
    layout.addWidget(table, 1)
    return page


@dataclass(kw_only=True)
class _Side:
    """A source narrowed to its ticked runs: what compare_bundles reads."""

    label: str
    snapshot: Snapshot | None
    runs: list[RunRecord]
    producer: dict[str, str]


class CompareTab(QWidget):
    """Sources and reference on the left; summary, plots, verdicts and env diff on the right."""

    title = "Compare"
    compared = Signal()  # after every comparison: sources, their labels or the reference changed

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.session = state.session  # this machine's runs, and where reruns go
        self.sources: list[Source] = []
        self.comparisons: list[BundleComparison] = []
        self.sides: dict[str, tuple] = {}  # other source key -> (ref Side, other Side)
        self.numbers = RunNumbers()  # colour and number = pair (see _number_runs)
        self._order: dict[str, int] = {}
        self.on_bundle_loaded: Callable[[Bundle], None] | None = None
        self.on_report_added: Callable[[str, str, Snapshot], None] | None = None
        self.on_rerun: Callable[[list[RunConfig], bool], list[RunRecord]] | None = None
        self.fix_checks: list[FixCheck] = []
        self._fix_timer = QTimer(self)
        self._fix_timer.setInterval(500)
        self._fix_timer.timeout.connect(self._poll_fix_checks)
        self._fix_progress: list = []
        self._reports = 0
        self._names: list[str] = []  # the reference's label, then the others', as compared

        open_button = QPushButton("Open bundles…")
        open_button.setToolTip("Load .reprodiag.zip bundles (from Colab, another machine, "
                               "another venv) or environment report files; Ctrl+O")
        open_button.clicked.connect(self._ask_open)
        paste_button = QPushButton("Paste report…")
        paste_button.setToolTip("Add an environment from a pasted report: torch collect_env "
                                "output, tf_env.txt, pip freeze (File ▸ Paste environment "
                                "report)")
        paste_button.clicked.connect(self.paste_report_dialog)
        local_button = QPushButton("Add this machine")
        local_button.setToolTip("Add the finished runs of the Runs tab (this session and the "
                                "run library) with the target interpreter's snapshot")
        local_button.clicked.connect(self.add_local)
        remove_button = QPushButton("Remove")
        remove_button.setToolTip("Remove the selected environment from the comparison")
        remove_button.clicked.connect(self._remove_selected)
        self.tree = SourceTree()
        self.tree.changed.connect(self.recompare)
        self.reference = QComboBox()
        self.reference.setToolTip("The environment every other one is compared against")
        self.reference.currentIndexChanged.connect(lambda _i: self.recompare())
        self.reference.activated.connect(lambda _i: setattr(self, "_reference_chosen", True))
        self._reference_chosen = False  # until the user picks one, the first source is it

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        buttons = QGridLayout()
        for i, b in enumerate((open_button, local_button, paste_button, remove_button)):
            buttons.addWidget(b, i // 2, i % 2)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.tree, 1)
        ref_row = QHBoxLayout()
        ref_label = QLabel("Reference:")
        ref_label.setToolTip(self.reference.toolTip())
        ref_row.addWidget(ref_label)
        ref_row.addWidget(self.reference, 1)
        left_layout.addLayout(ref_row)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setToolTip("The comparison in one line per environment")
        self.view = CurvesView(show_step_time=False,
                               diff_hint="Load two bundles (or add this machine) to see where "
                                         "their runs part.")
        self.verdicts = VerdictTable()

        self.env_other = QComboBox()
        self.env_other.setToolTip("The environment compared with the reference in the tabs "
                                  "below")
        self.env_other.setMinimumContentsLength(16)
        self.env_other.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.env_other.currentIndexChanged.connect(lambda _i: self._update_env_diff())
        # the user's pick is kept; until then the first other source in the order given is
        # shown, whichever bundle finished loading first
        self._picked_other: str | None = None
        self.env_other.activated.connect(
            lambda _i: setattr(self, "_picked_other", self.env_other.currentData()))
        self.show_all = QCheckBox("Show all facts")
        self.show_all.setToolTip("Also list facts that are the same on both sides")
        self.show_all.toggled.connect(lambda _b: self._update_env_diff())
        self.env_count = QLabel()
        self.env_count.setToolTip("How many facts differ, and how many of them can change numbers")
        self.env_diff = EnvDiffTable()
        self.findings = FindingsView()
        self.findings.rerun_requested.connect(self._rerun)
        self.align_view = AlignView()
        self.seed_view = SeedStatsView()
        self.layers_view = LayersView()

        self.explain_button = QPushButton("Explain this difference…")
        self.explain_button.clicked.connect(lambda: self.explain())
        self.verdicts.itemSelectionChanged.connect(self._update_explain_button)
        self.verdicts.itemSelectionChanged.connect(self._select_layers_pair)
        self.pairs_count = QLabel()
        self.pairs_count.setToolTip(self.verdicts.toolTip())
        pairs_page = _table_page(self.pairs_count, self.explain_button, self.verdicts)
        env_page = _table_page(self.env_count, self.show_all, self.env_diff)
        # Every tab below compares the reference with the one environment chosen above them,
        # each with the whole height under the plots (a 1280x800 screen has no room for three
        # stacked panes).
        self.side_tabs = QTabWidget()
        self.side_tabs.setDocumentMode(True)
        for widget, title in ((self.findings, "Diagnosis"), (pairs_page, "Run pairs"),
                              (env_page, "Environment diff"),
                              (self.align_view, "Make it match"),
                              (self.seed_view, "Seed statistics"),
                              (self.layers_view, "Layers")):
            self.side_tabs.addTab(widget, title)
            self.side_tabs.setTabToolTip(self.side_tabs.count() - 1, widget.toolTip()
                                         + " (the reference vs the environment chosen above)")
        self.side_tabs.setTabVisible(SEEDS, False)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.setSpacing(2)
        details_bar = QHBoxLayout()
        self.details_title = QLabel()
        self.details_title.setToolTip(self.env_other.toolTip())
        details_bar.addWidget(self.details_title)
        details_bar.addWidget(self.env_other)
        details_bar.addStretch(1)
        details_layout.addLayout(details_bar)
        details_layout.addWidget(self.side_tabs, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.view)
        right.addWidget(details)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)
        right.setSizes([390, 310])
        right.setChildrenCollapsible(False)
        self.right_split = right
        right_box = QWidget()
        right_layout = QVBoxLayout(right_box)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(right, 1)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right_box)
        main.setStretchFactor(0, 1)  # a wider window widens the sources a little, the plots most
        main.setStretchFactor(1, 5)
        main.setChildrenCollapsible(False)
        main.setSizes([280, 1000])
        # the main window keeps their sizes between sessions
        self.splitters = {"compare/sources": main, "compare/plots": right}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(main)
        self.recompare()

    # ------------------------------------------------------------------ sources
    def _ask_open(self) -> None:
        self.open_bundles(ask_open_paths(self, "Open bundles or reports", OPEN_FILTER))

    def open_bundles(self, paths: list[str]) -> None:
        """Read bundles (or report files) in the background; each one is added, or listed
        with its error."""
        self.place(paths)
        for path in paths:
            self.state.tasks.submit(functools.partial(read_source, str(path)),
                                    functools.partial(self._loaded, str(path)),
                                    functools.partial(self.add_error, path))

    def load_bundles_now(self, paths: list[str]) -> None:
        """Read bundles on this thread (offscreen rendering needs the data before grabbing)."""
        for path in paths:
            try:
                self._loaded(str(path), read_source(str(path)))
            except UserError as exc:
                self.add_error(path, str(exc))

    def _loaded(self, path: str, obj: Bundle | Snapshot) -> None:
        if isinstance(obj, Snapshot):
            self.add_report(obj, Path(path).name, key=str(Path(path).resolve()),
                            origin=f"{report_kind(obj) or 'environment report'} {path}")
        else:
            self.add_bundle(obj)

    def paste_report_dialog(self) -> PasteReportDialog:
        """Open the paste dialog (window-modal, not blocking); Add puts the report here."""
        dialog = PasteReportDialog(self.window())
        def add() -> None:
            if dialog.snapshot is not None:  # Add is enabled once the text reads as a report
                self.add_report(dialog.snapshot, dialog.label, origin=f"pasted "
                                f"{report_kind(dialog.snapshot) or 'environment report'}")

        dialog.accepted.connect(add)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        return dialog

    def add_report(self, snapshot: Snapshot, label: str, key: str | None = None,
                   origin: str = "environment report") -> Source:
        """An environment known only from a report: a snapshot, no runs."""
        if key is None:
            self._reports += 1
            key = f"report:{self._reports}"
        source = Source(key=key, label=label, name=label, snapshot=snapshot, runs=[],
                        origin=origin)
        self._put(source)
        if self.on_report_added is not None:
            self.on_report_added(key, source.label, snapshot)
        return source

    def add_bundle(self, bundle: Bundle) -> None:
        key = str(Path(bundle.path).resolve())
        name = bundle.label or Path(bundle.path).name
        self._put(Source(key=key, label=name, name=name, snapshot=bundle.snapshot,
                         runs=list(bundle.runs), path=Path(bundle.path),
                         producer=dict(bundle.producer)))
        if self.on_bundle_loaded is not None:
            self.on_bundle_loaded(bundle)

    def add_error(self, path: str, message: str) -> None:
        key = str(Path(path).resolve())
        self._put(Source(key=key, label=Path(path).name, name=Path(path).name, path=Path(path),
                         error=message))
        report(self, message)

    def add_local(self) -> None:
        """This machine: the Runs tab's ended runs with the target's snapshot."""
        runs = [r for r in self.session.records()
                if self.session.settled(r.run_id) and len(r.steps)]
        if not runs:
            report(self, "no finished runs on this machine yet: run a canary in the Runs tab",
                   "warning")
            return
        self._put(Source(key=LOCAL, label="this machine", name="this machine",
                         snapshot=self.state.snapshot, runs=runs,
                         producer={"version": __version__}))

    def place(self, paths: list[str]) -> None:
        """Keep list places for files about to load, in the order given: the list, the
        reference and the labels then follow that order, not the order they finish loading."""
        for path in paths:
            self._order.setdefault(str(Path(path).resolve()), len(self._order))

    def _put(self, source: Source) -> None:
        self._order.setdefault(source.key, len(self._order))
        self.sources = [s for s in self.sources if s.key != source.key] + [source]
        self.sources.sort(key=lambda s: self._order[s.key])
        self._sync_sources()

    def label_of(self, key: str) -> str | None:
        source = self.source(key)
        return source.label if source is not None else None

    def _remove_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            return
        while (parent := item.parent()) is not None:
            item = parent
        key = item.data(0, Qt.ItemDataRole.UserRole)
        self.sources = [s for s in self.sources if s.key != key]
        self._sync_sources()

    def _sync_sources(self) -> None:
        for source, label in zip(self.sources, distinct_labels(self.sources)):
            source.label = label
        self.tree.set_sources(self.sources)
        current = self.reference.currentData()
        self.reference.blockSignals(True)
        self.reference.clear()
        for s in self.sources:
            if s.ok:
                self.reference.addItem(s.label, s.key)
        index = self.reference.findData(current) if self._reference_chosen else 0
        self.reference.setCurrentIndex(max(index, 0))
        self.reference.blockSignals(False)
        self.recompare()

    def source(self, key: str) -> Source | None:
        return next((s for s in self.sources if s.key == key), None)

    # ------------------------------------------------------------------ comparing
    def _ticked(self) -> list[tuple[Source, _Side]]:
        states = self.tree.check_states()
        checked = Qt.CheckState.Checked
        out = []
        for s in self.sources:
            if s.ok and states.get(s.key) == checked:
                runs = [r for r in s.runs if states.get(f"{s.key}\n{r.run_id}") == checked]
                out.append((s, _Side(label=s.label, snapshot=s.snapshot, runs=runs,
                                     producer=s.producer)))
        return out

    def recompare(self) -> None:
        """Compare every ticked environment with the reference; refresh all views. Runs
        still streaming (reruns with a fix) are read under their locks, as one state."""
        live = [r for s in self.sources for r in s.runs
                if r.run_id in self.session and not self.session.settled(r.run_id)]
        with reading(live):
            self._recompare()

    def _recompare(self) -> None:
        ticked = self._ticked()
        ref_key = self.reference.currentData()
        ref = next((pair for pair in ticked if pair[0].key == ref_key), None)
        others = [pair for pair in ticked if pair[0].key != ref_key]
        # comparable_sides narrows a full snapshot to what an imported report can tell
        self.sides = {src.key: comparable_sides(ref[1], side) for src, side in others} \
            if ref is not None else {}
        self.comparisons = [compare_bundles(*self.sides[src.key]) for src, _ in others]
        self._number_runs(ref, others)
        self._update_plots(ref, others)
        self._fill_env_other(others)
        self._update_summary(ref, others)
        self._names = ([ref[0].label] if ref is not None else []) + [s.label for s, _ in others]
        self.compared.emit()

    def names(self) -> str:
        """What is compared, for the window title: 'colab vs workstation' (the reference
        first), 'colab' alone, or '' when nothing is loaded."""
        if not self._names:
            return ""
        ref, others = self._names[0], self._names[1:]
        if not others:
            return ref
        shown = others[:TITLE_OTHERS]
        more = len(others) - len(shown)
        return f"{ref} vs {', '.join(shown)}" + (f" and {more} more" if more else "")

    def _number_runs(self, ref, others) -> None:
        """1, 2, ... per reference run; a paired run shares its partner's number and colour;
        the other runs follow."""
        self.numbers = RunNumbers()
        if ref is not None:
            for run in ref[1].runs:
                self.numbers.number(run.run_id)
        for bc in self.comparisons:
            for p in bc.pairs:
                self.numbers.share(p.other.run_id, p.ref.run_id)
        for _src, side in others:
            for run in side.runs:
                self.numbers.number(run.run_id)

    def _color(self, run: RunRecord):
        return theme.numbered_color(self.numbers, run.run_id)

    def _update_plots(self, ref, others) -> None:
        """Colour and number = pair; line style = environment (the reference solid). The
        legends say so once per colour and once per style, not once per curve: 4
        environments of 3 runs take 7 entries, not 12."""
        ordered = ([ref] if ref is not None else []) + others
        curves: list[CurveSpec] = []
        numbered: dict[int, RunRecord] = {}
        for i, (src, side) in enumerate(ordered):
            for run in side.runs:
                number = self.numbers.number(run.run_id)
                numbered.setdefault(number, run)
                curves.append(CurveSpec(f"{src.key}\n{run.run_id}", f"{number} {src.label}", run,
                                        self._color(run), STYLES[i % len(STYLES)]))
        diffs = []
        for i, (bc, (src, _side)) in enumerate(zip(self.comparisons, others)):
            style = STYLES[(i + 1) % len(STYLES)]
            for p in bc.pairs:
                diffs.append(DiffSpec(f"{src.key}\n{p.other.run_id}",
                                      f"{self.numbers.number(p.ref.run_id)} {src.label}",
                                      p.ref, p.other, self._color(p.ref), style))
        names = run_names([numbered[n] for n in sorted(numbered)])
        colours = [LegendEntry(name=f"{n} {name}".strip(), color=self._color(numbered[n]))
                   for n, name in zip(sorted(numbered), names)]
        styles = [LegendEntry(name=src.label + (" (reference)" if src is ordered[0][0] and
                                                ref is not None else ""),
                              style=STYLES[i % len(STYLES)])
                  for i, (src, _side) in enumerate(ordered)]
        self.view.set_curves(curves, legend=styles + colours)
        self.view.set_diffs(diffs, legend=styles[1 if ref is not None else 0:] + colours)

    def _fill_env_other(self, others) -> None:
        current = self._picked_other
        self.env_other.blockSignals(True)
        self.env_other.clear()
        for src, _side in others:
            self.env_other.addItem(src.label, src.key)
        index = self.env_other.findData(current)
        self.env_other.setCurrentIndex(max(index, 0))
        self.env_other.blockSignals(False)
        self._update_env_diff()

    def _update_env_diff(self) -> None:
        """Run pairs, environment diff and diagnosis of the reference against the chosen
        environment."""
        ref = self.source(self.reference.currentData())
        other = self.source(self.env_other.currentData())
        sides = self.sides.get(other.key) if other is not None else None
        self.details_title.setText(f"<b>{html.escape(ref.label)}</b> (reference) vs"
                                   if ref is not None else "<b>Details</b> vs")
        self.side_tabs.setTabText(ENVIRONMENT, "Environment diff")
        self._update_pairs(ref, other if sides is not None else None)
        if ref is None or other is None or sides is None:
            self.env_diff.set_diffs([], ("A", "B"))
            self.env_count.setText("Load a second environment to see how they differ.")
            self.findings.clear_findings("The diagnosis appears when two environments are "
                                         "compared.")
            self.side_tabs.setTabText(DIAGNOSIS, "Diagnosis")
            self.align_view.clear_plan("Compare two environments to see how to make one "
                                       "match the other.")
            self._update_seed_stats(None)
            self.layers_view.set_pairs([], ("A", "B"))
            return
        a, b = sides
        index = list(self.sides).index(other.key)
        self.layers_view.set_pairs([(p.title, p) for p in self.comparisons[index].pairs],
                                   (ref.label, other.label))
        self._select_layers_pair()
        runs = {r.run_id: r for r in a.runs + b.runs}
        diagnosis = diagnose_comparison(self.comparisons[index],
                                        snapshots=(a.snapshot, b.snapshot), runs=(a.runs, b.runs))
        diagnosis.labels = (ref.label, other.label)
        self.findings.set_findings(diagnosis, runs)
        self.side_tabs.setTabText(DIAGNOSIS, f"Diagnosis ({len(self.findings.findings)})")
        self._update_seed_stats((a, b))
        if a.snapshot is None or b.snapshot is None:
            missing = ref.label if a.snapshot is None else other.label
            self.env_diff.set_diffs([], (ref.label, other.label))
            self.env_count.setText(f"{missing} has no environment snapshot.")
            self.align_view.clear_plan(f"{missing} has no environment snapshot: nothing to "
                                       "align.")
            return
        self.align_view.set_plan(align(a.snapshot, b.snapshot, labels=(ref.label, other.label)))
        diffs = diff_env(a.snapshot, b.snapshot, include_same=self.show_all.isChecked())
        self.env_diff.set_diffs(diffs, (ref.label, other.label))
        differing = [d for d in diffs if not d.same]
        numerics = sum(1 for d in differing if d.numerics)
        self.side_tabs.setTabText(ENVIRONMENT, f"Environment diff ({len(differing)})")
        self.env_count.setText(f"{counted(len(differing), 'difference')}, {numerics} "
                               "numerics-relevant")

    def _update_pairs(self, ref: Source | None, other: Source | None) -> None:
        """The run pairs of the reference and the chosen environment."""
        bc = self.comparisons[list(self.sides).index(other.key)] if other is not None else None
        self.verdicts.set_comparisons([bc] if bc is not None else [],
                                      lambda run: self.numbers.number(run.run_id), self._color)
        self.side_tabs.setTabText(PAIRS, f"Run pairs ({len(bc.pairs)})" if bc else "Run pairs")
        if bc is None:
            self.pairs_count.setText("The runs of two environments are paired by config here.")
        else:
            unpaired = len(bc.unpaired_a) + len(bc.unpaired_b)
            self.pairs_count.setText(
                f"{counted(len(bc.pairs), 'pair')} of runs with the same config"
                + (f", {counted(unpaired, 'run')} without a partner" if unpaired else "")
                + ". Select one to explain it or see its layers.")
        self._update_explain_button()

    def _update_seed_stats(self, sides) -> None:
        """The seed statistics tab, and the seed bands on the loss plot, are there only when
        both sides ran 2+ seeds of a config."""
        shown = sides is not None and self.seed_view.set_sides(*sides)
        if sides is None:
            self.seed_view.clear_stats()
        self.view.set_bands(self.seed_view.band_specs() if shown else [])
        if not shown and self.side_tabs.currentIndex() == SEEDS:
            self.side_tabs.setCurrentIndex(DIAGNOSIS)
        self.side_tabs.setTabVisible(SEEDS, bool(shown))

    def show_panel(self, index: int) -> None:
        """Bring one of the details' tabs (DIAGNOSIS, PAIRS, ENVIRONMENT, MATCH, SEEDS,
        LAYERS) to the front."""
        self.side_tabs.setCurrentIndex(index)
        plots, details = self.right_split.sizes()
        if index == LAYERS and details < LAYERS_HEIGHT:  # a grid of layers wants more height
            self.right_split.setSizes([max(plots + details - LAYERS_HEIGHT, 1), LAYERS_HEIGHT])

    def _select_layers_pair(self) -> None:
        """The Layers view follows the run pair selected in the table."""
        row = self.verdicts.selected_row()
        if row is not None:
            a, b = self.verdicts.row_runs[row]
            if a is not None and b is not None:
                self.layers_view.select_runs(a.run_id, b.run_id)

    # ------------------------------------------------------------------ fixes and explain
    def _rerun(self, configs: list[RunConfig], reference_first: bool, finding=None,
               fix=None) -> None:
        """Run the fixed side(s) here, show them beside the reference and, when they end,
        say whether the fix worked (FixCheck)."""
        if self.on_rerun is None:
            report(self, "reruns start in the Runs tab of the main window", "warning")
            return
        records = self.on_rerun(configs, reference_first) or []
        if finding is None or fix is None or not records:
            return
        reference = None
        if not reference_first and finding.run_pairs:
            runs = {r.run_id: r for s in self.sources for r in s.runs}
            reference = runs.get(finding.run_pairs[0][0])
        check = FixCheck(title=finding.title, changes=dict(fix.rerun_config_changes),
                         records=list(records), reference=reference)
        self.fix_checks.append(check)
        key = f"__fix__{len(self.fix_checks)}"
        name = f"fix: {check.changes_text}"
        self._put(Source(key=key, label=name, name=name, runs=list(records),
                         snapshot=self.state.snapshot, producer={"version": __version__},
                         origin="rerun with fix"))
        self.findings.set_fix_check(f"{check.changes_text}: running "
                                    f"{counted(len(records), 'rerun')} on this machine…")
        self._fix_timer.start()

    def _poll_fix_checks(self) -> None:
        """Refresh the reruns' curves while they stream; conclude each check once it ends."""
        pending = [c for c in self.fix_checks if not c.result]
        if not pending:
            self._fix_timer.stop()
            return
        progress = [(len(r.steps), r.status) for c in pending for r in c.records]
        if progress != self._fix_progress:
            self._fix_progress = progress
            self.recompare()
        for check in pending:
            if all(self.session.settled(r.run_id) for r in check.records):
                self.findings.set_fix_check(check.conclude(), check.worked)
                report(self, check.result, "info" if check.worked else "warning")

    def explain_pair(self) -> tuple[RunRecord, RunRecord, tuple[str, str]] | None:
        """The selected pair of runs, else the first pair that differs, else the first pair."""
        rows = self.verdicts.row_runs
        selected = self.verdicts.selected_row()
        candidates = [selected] if selected is not None else (
            [i for i, (a, b) in enumerate(rows) if a is not None and b is not None
             and self.verdicts.verdict(i) != IDENTICAL]
            + [i for i, (a, b) in enumerate(rows) if a is not None and b is not None])
        for i in candidates:
            a, b = rows[i]
            if a is not None and b is not None:
                return a, b, (self.reference.currentText(), self.verdicts.rows[i][2])
        return None

    def _explain_target(self) -> tuple[tuple | None, str]:
        """(explain_pair(), why it cannot be explained or '')."""
        pair = self.explain_pair()
        return pair, explainable(pair[0].config if pair else None,
                                 pair[1].config if pair else None)

    def _update_explain_button(self) -> None:
        pair, why = self._explain_target()
        self.explain_button.setEnabled(not why)
        if why or pair is None:
            self.explain_button.setToolTip(f"Explain a difference by rerunning it: {why}")
        else:
            a, b, _labels = pair
            self.explain_button.setToolTip(
                "Rerun this pair here, changing one factor at a time (threads, determinism, "
                f"float64, ...), to find the one that removes the difference:\n"
                f"A {a.config.short_label()}\nB {b.config.short_label()}")

    def explain(self, factors: list[str] | None = None) -> ExplainDialog | None:
        """Open the explain dialog for the pair `explain_pair` picks, and start it."""
        pair, why = self._explain_target()
        if why or pair is None:
            report(self, f"cannot explain: {why}", "warning")
            return None
        a, b, labels = pair
        return open_explain(self, self.state, a.config, b.config, factors, labels)

    def _update_summary(self, ref, others) -> None:
        if not self.sources:
            self.summary.setText("Open bundles (File ▸ Open bundle, or drop them on the window) "
                                 "to compare environments and runs.")
            return
        if ref is None:
            self.summary.setText("Tick the reference environment to compare.")
            return
        if not others:
            self.summary.setText(f"Reference <b>{html.escape(ref[0].label)}</b>: "
                                 f"{counted(len(ref[1].runs), 'run')}. Load or tick another "
                                 "environment to compare with it.")
            return
        lines = []
        for bc, (_src, side) in zip(self.comparisons, others):
            la, lb = (html.escape(label) for label in bc.labels)
            counts: dict[Verdict, int] = {}
            for p in bc.pairs:
                counts[p.verdict] = counts.get(p.verdict, 0) + 1
            parts = [f"<span style='color:{theme.verdict_color(v).name()}'><b>{n} "
                     f"{VERDICT_LABELS[v]}</b>"
                     "</span>" for v, n in counts.items()]
            env = (", " + counted(len(bc.numerics_env_differences),
                                  "numerics-relevant environment difference")
                   if bc.env_compared else "")
            # the reference first, as in the details below and the window title
            if not (ref[1].runs and side.runs):
                lines.append(f"<b>{la}</b> vs <b>{lb}</b>: environments "
                             f"only (a side has no runs){env}")
                continue
            overall = bc.overall_verdict or "no pairs"
            lines.append(f"<b>{la}</b> vs <b>{lb}</b>: {overall} — "
                         f"{counted(len(bc.pairs), 'pair')} ({', '.join(parts) or 'none'}){env}")
        self.summary.setText("<br>".join(lines))
