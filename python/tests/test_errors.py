"""Bad arguments: each a ValueError with the command line's one-line error, naming the flag."""

import pytest

import tagstream

CASES = [
    (dict(batch="soon"), "--batch"),
    (dict(batch="0s"), "--batch"),
    (dict(window="65s"), "--window"),
    (dict(slide="15s"), "--slide"),
    (dict(top=-1), "--top"),
    (dict(top="ten"), "--top"),
    (dict(extract="words"), "--extract"),
    (dict(format="xml"), "--format"),
    (dict(time="wall"), "--time"),
    (dict(time="event"), "--format jsonl"),
    (dict(workers=0), "--workers"),
    (dict(lateness="-5s"), "--lateness"),
    (dict(lateness="late"), "--lateness"),
    (dict(frobnicate=1), "--frobnicate"),
    (dict(source="ftp://example.com/x"), "--source"),
    (dict(source="/nonexistent/tweets.txt"), "--source"),
    (dict(source=None), "--source"),
    (dict(checkpoint_dir="/tmp/x", checkpoint_every="15s"), "--checkpoint-every"),
    (dict(db="/nonexistent/dir/r.db"), "--db"),
    (dict(config="/nonexistent.toml"), "/nonexistent.toml"),
    (dict(batch=object()), "--batch"),
]


@pytest.mark.parametrize("kw,flag", CASES, ids=[next(iter(k)) + "=" + repr(v)[:20]
                                                for k, v in ((c[0], list(c[0].values())[0]) for c in CASES)])
def test_bad_argument_names_its_flag(kw, flag):
    args = {"source": "-"}
    args.update(kw)
    with pytest.raises(ValueError) as e:
        tagstream.run(**args)
    msg = str(e.value)
    assert flag in msg, msg
    assert "\n" not in msg, msg


def test_errors_are_the_command_lines(cli):
    """The same words as the binary's one-line error."""
    import subprocess

    out = subprocess.run([cli, "run", "--source", "-", "--batch", "10s", "--window", "65s"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    with pytest.raises(ValueError) as e:
        tagstream.run(source="-", batch="10s", window="65s")
    assert out.stderr.strip() == f"tagstream: error: {e.value}"
