"""The efficiency chapter on one page: int8 vs float32 (sentiment, QA), LoRA vs full
fine-tuning, a distilled student vs its teacher, each against its goal, read from the committed
result files that the side-by-side runs wrote (nothing is re-measured or typed in here).

    python -m benchmarks.efficiency_summary

Reads benchmarks/results/{efficiency_sentiment, efficiency_qa, lora_sentiment,
distill_ner}.json (a missing one is listed as not measured) and writes
benchmarks/results/efficiency.json and .md.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import json  # noqa: E402
import pathlib  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
LATENCIES = ("in_process_ms_batch1", "in_process_ms_batch32", "server_grpc_ms_batch1")


def _load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _metric(row, task):
    metrics = row["metrics"]
    if task == "sentiment":
        return "SST-2 dev accuracy", 100 * metrics["accuracy"]
    if task == "qa":
        return "SQuAD F1", metrics["f1"]
    return "CoNLL valid entity F1", metrics["valid_f1"]


def _quantization(record):
    """One line per mode: size and metric change vs float32, latency ratios, goals."""
    rows = {r["mode"]: r for r in record["rows"]}
    base = rows["float32"]
    name, base_value = _metric(base, record["task"])
    allowed = 0.5 if record["task"] == "sentiment" else 1.0
    lines = []
    for mode, row in rows.items():
        if mode == "float32" or mode.startswith("student"):
            continue
        value = _metric(row, record["task"])[1]
        slower = [k for k in LATENCIES if row[f"{k}_ratio"] > 1.0]
        lines.append({
                "task": record["task"], "mode": mode, "metric": name,
                "float32": round(base_value, 2), "quantized": round(value, 2),
                "drop": round(base_value - value, 2),
                "size_mb": round(row["size_bytes"] / 1e6, 1),
                "size_ratio": row["size_ratio"],
                **{f"{k}_ratio": row[f"{k}_ratio"] for k in LATENCIES},
                "goals": {"size <= 0.3x": row["size_ratio"] <= 0.3,
                          f"drop <= {allowed}": base_value - value <= allowed,
                          "not slower": not slower},
                "source": f"efficiency_{record['task']}.md"})
    return lines


def _lora(record):
    full, lora = record["results"]["full"], record["results"]["lora"]
    drop = 100 * (full["dev_accuracy_saved_model"] - lora["dev_accuracy_saved_model"])
    return {"trainable_percent": lora["trainable_percent"],
            "full_accuracy": full["dev_accuracy_saved_model"],
            "lora_accuracy": lora["dev_accuracy_saved_model"], "drop_points": round(drop, 2),
            "step_ratio": record["step_ratio"], "ops_identical": record["ops_identical"],
            "goals": {"trainable < 1%": lora["trainable_percent"] < 1.0,
                      "within 1 point": drop <= 1.0,
                      "same exported ops": record["ops_identical"]},
            "source": "lora_sentiment.md"}


def _distillation(record):
    rows = {r["mode"]: r for r in record["rows"]}
    out = []
    for mode in [m for m in rows if not m.startswith("student_")]:
        teacher, student = rows[mode], rows.get(f"student_{mode}")
        if student is None:
            continue
        name, t_value = _metric(teacher, record["task"])
        out.append({"mode": mode, "metric": name, "teacher": round(t_value, 2),
                    "student": round(_metric(student, record["task"])[1], 2),
                    "teacher_mb": round(teacher["size_bytes"] / 1e6, 1),
                    "student_mb": round(student["size_bytes"] / 1e6, 1),
                    **{f"student/teacher {k}": round(student[k] / teacher[k], 3)
                       for k in LATENCIES}})
    return {"rows": out, "source": "distill_ner.md"}


def main():
    import argparse  # pylint: disable=import-outside-toplevel
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    from keras_llm.utils import report  # pylint: disable=import-outside-toplevel
    sources = {n: _load(n) for n in ("efficiency_sentiment", "efficiency_qa", "lora_sentiment",
                                     "distill_ner")}
    quantization = [line for n in ("efficiency_sentiment", "efficiency_qa") if sources[n]
                    for line in _quantization(sources[n])]
    lora = _lora(sources["lora_sentiment"]) if sources["lora_sentiment"] else None
    distill = _distillation(sources["distill_ner"]) if sources["distill_ner"] else None
    record = report.new_record(quantization=quantization, lora=lora, distillation=distill,
                               missing=[n for n, v in sources.items() if v is None],
                               measured_on={n: (v or {}).get("date") for n, v in sources.items()})
    table = {}
    for q in quantization:
        table[f"int8: {q['task']} {q['mode']}"] = (
                f"{q['metric']} {q['float32']} -> {q['quantized']} (drop {q['drop']}); "
                f"{q['size_mb']} MB ({q['size_ratio']}x); latency x float32: in process b1 "
                f"{q['in_process_ms_batch1_ratio']}, b32 {q['in_process_ms_batch32_ratio']}, "
                f"keras-llm-serve b1 {q['server_grpc_ms_batch1_ratio']}; goals {q['goals']}")
    if lora:
        table["LoRA rank 8 vs full (SST-2)"] = (
                f"trainable {lora['trainable_percent']}%; dev {lora['full_accuracy']} -> "
                f"{lora['lora_accuracy']} (drop {lora['drop_points']} points); s/step "
                f"{lora['step_ratio']}x; exported ops identical: {lora['ops_identical']}; "
                f"goals {lora['goals']}")
    for d in (distill or {}).get("rows", []):
        table[f"distilled student vs teacher (NER, {d['mode']})"] = (
                f"{d['metric']} {d['teacher']} -> {d['student']}; {d['teacher_mb']} -> "
                f"{d['student_mb']} MB; latency student/teacher: in process b1 "
                f"{d['student/teacher in_process_ms_batch1']}, b32 "
                f"{d['student/teacher in_process_ms_batch32']}, keras-llm-serve b1 "
                f"{d['student/teacher server_grpc_ms_batch1']}")
    for name in record["missing"]:
        table[f"{name}"] = "not measured (no result file)"
    notes = ["Each line is read from the result file named in efficiency.json (`source`), "
             "which holds its command, date, machine and the full rows; every comparison in "
             "those files was measured side by side in one run (A B A B rotation, medians)."]
    report.write(str(RESULTS / "efficiency"), record,
                 "Efficiency: int8, LoRA, distillation (summary of the side-by-side runs)",
                 table, notes)
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
