"""Every key binding of the app, each with an id so a user can remap it.

Remap keys in nerloop.toml, e.g.

    [keymap]
    "annotate.accept" = "y,enter"
    "annotate.start_left" = "comma"

(Textual key names; several keys separated by commas.) The help screen (?) and the footer are
built from these bindings, so they always show the keys in force.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP: list[BindingType] = [
    Binding("f1,alt+1", "show_tab('annotate')", "Annotate", id="app.tab_annotate", show=False),
    Binding("f2,alt+2", "show_tab('taxonomy')", "Taxonomy", id="app.tab_taxonomy", show=False),
    Binding("f3,alt+3", "show_tab('gold')", "Gold", id="app.tab_gold", show=False),
    Binding("f4,alt+4", "show_tab('train')", "Train", id="app.tab_train", show=False),
    Binding("f5,alt+5", "show_tab('evaluate')", "Evaluate", id="app.tab_evaluate", show=False),
    Binding("f6,alt+6", "show_tab('data')", "Data", id="app.tab_data", show=False),
    Binding("f7,alt+7", "show_tab('compare')", "Compare", id="app.tab_compare", show=False),
    Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
]

ANNOTATE: list[BindingType] = [
    Binding("y", "answer('accept')", "Yes", id="annotate.accept"),
    Binding("n", "answer('reject')", "No", id="annotate.reject"),
    Binding("space", "answer('ignore')", "Skip", id="annotate.ignore", key_display="spc"),
    Binding("a", "accept_text", "All right", id="annotate.accept_text"),
    Binding("u", "undo", "Undo", id="annotate.undo"),
    # The footer shows each boundary's pair of keys once ("[/]" start, "{/}" end).
    Binding(
        "left_square_bracket",
        "move_start(-1)",
        "Start",
        id="annotate.start_left",
        key_display="[/]",
    ),
    Binding(
        "right_square_bracket",
        "move_start(1)",
        "Start→",
        id="annotate.start_right",
        key_display="]",
        show=False,
    ),
    Binding("left_curly_bracket", "move_end(-1)", "End", id="annotate.end_left", key_display="{/}"),
    Binding(
        "right_curly_bracket",
        "move_end(1)",
        "End→",
        id="annotate.end_right",
        key_display="}",
        show=False,
    ),
    Binding("l", "choose_pass", "Pass", id="annotate.pass"),
    # Not in the footer either: the line under the question names them.
    Binding("m", "mark_missing", "Mark missing", id="annotate.mark_missing", show=False),
    Binding(
        "exclamation_mark",
        "flag_missing",
        "Flag missing",
        id="annotate.flag_missing",
        key_display="!",
        show=False,
    ),
    # Not in the footer, which has room for 80 columns of keys (the help screen lists it).
    Binding("c", "toggle_context", "Context", id="annotate.context", show=False),
]

TAXONOMY: list[BindingType] = [
    Binding("e", "edit_label", "Edit label", id="taxonomy.edit"),
    Binding("r", "refresh", "Refresh counts", id="taxonomy.refresh"),
]

# The span editor's keys (tui/widgets/span_editor.py), in the Gold tab and in the Annotate
# tab's mark-missing editor alike (one id each, so a remap changes both).
EDITING: list[BindingType] = [
    Binding("left", "move(-1)", "←", id="gold.left", show=False),
    Binding("right", "move(1)", "→", id="gold.right", show=False),
    Binding("shift+left", "extend(-1)", "Select←", id="gold.select_left", show=False),
    Binding("shift+right", "extend(1)", "Select→", id="gold.select_right", show=False),
    Binding("home", "home", "Start", id="gold.home", show=False),
    Binding("end", "end", "End", id="gold.end", show=False),
    *(
        Binding(str(n), f"tag({n})", "Tag 1-9", id=f"gold.tag{n}", key_display="1-9", show=n == 1)
        for n in range(1, 10)
    ),
    Binding("backspace,d", "remove", "Remove", id="gold.remove", key_display="d"),
]
DONE = Binding("enter", "done", "Done", id="gold.done", key_display="⏎")

SPAN_EDITOR: list[BindingType] = [
    *EDITING,
    DONE,
    Binding("escape", "cancel", "Cancel", id="annotate.mark_cancel"),
]

GOLD: list[BindingType] = [
    *EDITING,
    DONE,
    Binding("pagedown,j", "step(1)", "Next", id="gold.next", key_display="j"),
    Binding("pageup,k", "step(-1)", "Prev", id="gold.prev", key_display="k"),
    Binding("a", "add_from_pool", "Add pool text", id="gold.add"),
    # Not in the footer (80 columns are full): the head line and the help screen list them.
    Binding("o", "reopen_done", "Reopen done", id="gold.reopen", show=False),
    Binding("r", "fill_rules", "Rule spans", id="gold.rules", show=False),
]

TRAIN: list[BindingType] = [
    Binding("s", "start", "Train", id="train.start"),
    Binding("x", "stop", "Stop", id="train.stop"),
]

EVALUATE: list[BindingType] = [Binding("r", "refresh", "Score again", id="evaluate.refresh")]

DATA: list[BindingType] = [Binding("r", "refresh", "Refresh", id="data.refresh")]

COMPARE: list[BindingType] = [
    Binding("1", "pick('a')", "A better", id="compare.a"),
    Binding("2", "pick('b')", "B better", id="compare.b"),
    Binding("3", "pick('same')", "Same", id="compare.same"),
    Binding("u", "undo", "Undo", id="compare.undo"),
    Binding("l", "choose_label", "Label", id="compare.label"),
]

MODAL: list[BindingType] = [Binding("escape", "dismiss_modal", "Close", id="modal.close")]

ALL: list[Binding] = [
    b
    for b in APP
    + ANNOTATE
    + SPAN_EDITOR
    + TAXONOMY
    + GOLD
    + TRAIN
    + EVALUATE
    + DATA
    + COMPARE
    + MODAL
    if isinstance(b, Binding)
]
BINDING_IDS = {b.id for b in ALL}

# Plain-language notes for the help screen, next to the keys.
HELP_NOTES = {
    "annotate.accept": "accept: the span is right (stores the moved span if you moved a boundary)",
    "annotate.reject": "reject: the span is wrong",
    "annotate.ignore": "ignore: skip this question (not used for training)",
    "annotate.accept_text": "accept every question held for this text (listed under it; all "
    "labels in the all-labels pass) at once, moved span included; u takes them all back",
    "annotate.undo": "take back this session's last answer (or All right), one at a time",
    "annotate.start_left": "move the span's start one token left",
    "annotate.start_right": "move the span's start one token right",
    "annotate.end_left": "move the span's end one token left",
    "annotate.end_right": "move the span's end one token right",
    "annotate.pass": "choose the label pass: one label, or all labels",
    "annotate.context": "show or hide what the LLM said about the span",
    "annotate.mark_missing": "mark the spans the LLM missed in this text (Gold tab keys; enter "
    "saves, escape cancels): the text is then complete for every label; u takes it back",
    "annotate.flag_missing": "something is missing here, unmarked: its untagged words train as "
    "unknown, not as no entity; u takes it back. A text finished without m or ! is complete: "
    "its untagged words train as no entity",
    "annotate.mark_cancel": "leave the mark-missing editor without saving",
    "gold.tag1": "tag the selection with the label of that number",
    "gold.left": "cursor one token left (shift+←/→ selects)",
    "gold.done": "mark the text done and go to the next",
    "gold.add": "take a fresh text from the pool into the gold set",
    "compare.a": "blind A/B: A (the upper text) is better",
    "compare.b": "blind A/B: B (the lower text) is better",
    "compare.same": "blind A/B: A and B are as good as each other",
    "compare.label": "choose the label to compare, or all labels",
    "train.start": "train a model now (promoted only if no worse on gold)",
    "train.stop": "stop the training run",
    "evaluate.refresh": "score model, LLM and rules on gold again",
    "gold.reopen": "reopen the finished gold texts, to check and correct them",
    "gold.rules": "add the rule labels' matches where the text has no span (a draft)",
}


def keys_in_force(bindings: list[BindingType], remap: dict[str, str]) -> dict[str, list[str]]:
    """Binding id -> the keys that trigger it after `remap` ([keymap] in nerloop.toml).

    A remapped binding has the keys the user gave it. A binding left alone keeps its default
    keys except those a remap in the same group gave to another binding: Textual then drops
    the clashing default binding, so it may end with no key at all (an empty list).
    """
    ids = [b for b in bindings if isinstance(b, Binding) and b.id is not None]
    taken = {k.strip() for b in ids if b.id in remap for k in remap[b.id].split(",") if k.strip()}
    out: dict[str, list[str]] = {}
    for b in ids:
        assert b.id is not None
        if b.id in remap:
            out[b.id] = [k.strip() for k in remap[b.id].split(",") if k.strip()]
        else:
            out[b.id] = [k.strip() for k in b.key.split(",") if k.strip() not in taken]
    return out
