"""examples/tutorial.ipynb runs headless (nbclient, this interpreter's kernel) and shows
what it says: the chart as an image, the top-10 table, the SQL over the history, what is
rising."""

import base64

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")


def outputs(nb, tag):
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, tag
    return cells[0].outputs


def test_the_tutorial_notebook_runs_headless(repo, tmp_path):
    nb = nbformat.read(repo / "examples/tutorial.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any error

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out

    chart = [o for o in outputs(nb, "chart") if "image/png" in o.get("data", {})]
    assert len(chart) == 1
    png = base64.b64decode(chart[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000

    top = outputs(nb, "top10")[-1]["data"]
    assert "<table" in top["text/html"] and "hashtag" in top["text/html"]
    assert top["text/plain"].count("#") == 10

    sql = outputs(nb, "sql")[-1]["data"]["text/html"]
    assert "best_rank" in sql and sql.count("</tr>") == 11  # header + 10 rows

    windows = outputs(nb, "windows")
    assert sum(o.get("text", "").count("records,") for o in windows) == 3

    history = outputs(nb, "history")
    assert any("records/s" in o.get("text", "") for o in history)

    # What is rising: the tag leading each of the last 12 windows (the generator's rising
    # tags among them), with its distinct authors.
    trends = outputs(nb, "trends")[-1]["data"]["text/html"]
    assert "<table" in trends and "authors" in trends and trends.count("</tr>") == 13
    rising = ("SolarEclipse Earthquake TrainStrike NewAlbumDrop TransferNews BlackoutNYC "
              "RecordHeat RoverLanding ChessUpset FloodWarning ViralDance MarketCrash "
              "ComebackWin Aurora ServerOutage RoyalWedding LunarNewYear GoalOfTheYear HeatDome "
              "SurpriseDebut").split()  # src/sources/generator.rs RISING
    assert any("#" + tag.lower() in trends.lower() for tag in rising), trends
