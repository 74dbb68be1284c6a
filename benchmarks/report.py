"""Derived ratios and the markdown tables of a benchmark result."""

from __future__ import annotations

from benchmarks.common import fmt_rate


def ratios(result: dict) -> None:
    """Add cross-part ratios (GPU against all-core CPU throughput) to ``result`` in place."""
    sizes = result.get("sizes") or []
    if not sizes:
        return
    best_cpu = max(sizes, key=lambda r: r["scenario_years_per_s"])
    result["cpu_best"] = {"scenarios": best_cpu["scenarios"], "scenario_years_per_s": best_cpu["scenario_years_per_s"],
                          "threads": result["machine"]["numba_threads"]}
    g = result.get("gpu")
    cpu_sum = result.get("summary_runs") or []
    if g and g.get("summary_runs") and cpu_sum:
        best = max(r["scenario_years_per_s"] for r in cpu_sum)
        for r in g["summary_runs"]:
            r["speedup_vs_cpu_summary"] = r["scenario_years_per_s"] / best
    if not g or not g.get("sizes"):
        return
    base = best_cpu["scenario_years_per_s"]
    for r in g["sizes"]:
        r["speedup_vs_cpu_all_cores"] = r["scenario_years_per_s"] / base
        if "fused_scenario_years_per_s" in r:
            r["fused_speedup_vs_cpu_all_cores"] = r["fused_scenario_years_per_s"] / base
        if "with_transfer_scenario_years_per_s" in r:
            r["with_transfer_speedup_vs_cpu_all_cores"] = r["with_transfer_scenario_years_per_s"] / base


def _s(x, fmt="{:.2f}"):
    return "–" if x is None else fmt.format(x)


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"# dcproj benchmarks ({result['created']}, commit {result.get('git') or '?'})",
        "",
        f"`{result['command']}`; config `{result['config']}`: {result['years']} years × {result['regions']} regions, "
        f"{result['inputs']} inputs. CPU: {m['cpu']}, {m['cores']} cores, {m['numba_threads']} numba threads, "
        f"{m.get('memory_gib', '?')} GiB; Python {m['python']}, numba {m['numba']}, NumPy {m['numpy']}.",
        "",
        "Throughput in scenario-years per second (one scenario over the whole horizon = "
        f"{result['years']} scenario-years). Ratios to a floor: kernel time / time to write the same bytes.",
        "",
    ]
    la0, la1 = result.get("load_average_start"), result.get("load_average_end")
    if la0 and la1:
        busy = la0[0] > 0.5 * m["cores"] or la1[1] > m["cores"] + 0.5  # the suite itself loads every core
        lines += [f"Load average (1/5/15 min) at the start {'/'.join(f'{x:.1f}' for x in la0)}, at the end "
                  f"{'/'.join(f'{x:.1f}' for x in la1)} on {m['cores']} cores"
                  + (": **the machine was busy with other work; timings are noisy.**" if busy else "."), ""]
    if result.get("complete") is False:
        lines += ["**Incomplete**: the run was cut short; the tables hold the parts that finished.", ""]
    comp = result.get("compile")
    if comp:
        cold, warm = comp.get("cold", {}), comp.get("warm", {})
        lines.append(
            f"**JIT (CPU)**: cold cache {_s(cold.get('total_s'), '{:.1f}')} s (cache hit: {cold.get('cache_hit')}), "
            f"warm cache {_s(warm.get('total_s'), '{:.2f}')} s (cache hit: {warm.get('cache_hit')}); "
            f"includes importing numba and the engine."
        )
    fc = result.get("first_calls")
    if fc:
        lines.append(f"**First calls in the benchmark process**: {fc['total_s']:.2f} s, cache hit: {fc['cache_hit']}.")
    lines.append("")
    sizes = result.get("sizes") or []
    if sizes:
        lines += [
            "## CPU: throughput against scenario count",
            "",
            "| scenarios | scen-yr/s | sample s | model s | reduction s | write s (MB/s) | memory floor s | × floor | NumPy scen-yr/s | × NumPy | peak RSS MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sizes:
            write = f"{r['write_s']:.2f} ({r['write_mb_per_s']:.0f})" if "write_s" in r else "–"
            np_rate = fmt_rate(r.get("numpy_scenario_years_per_s"))
            np_ratio = f"{r['numba_speedup_vs_numpy']:.1f}×" if "numba_speedup_vs_numpy" in r else "–"
            lines.append(
                f"| {r['scenarios']:.0e} | {r['scenario_years_per_s']:.3g} | {r['sample_s']:.3f} | {r['model_s']:.3f} | "
                f"{r['reduction_s']:.3f} | {write} | {r['memory_floor_s']:.3f} | {r['compute_vs_memory_floor']:.1f}× | "
                f"{np_rate} | {np_ratio} | {r['peak_rss_mib']:.0f} |"
            )
        lines.append("")
    th = result.get("threads")
    if th:
        lines += [
            f"## CPU: thread scaling at {th[0]['scenarios']:.0e} scenarios",
            "",
            "| threads | scen-yr/s | sample s | model s | speed-up | efficiency |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in th:
            lines.append(
                f"| {r['threads']} | {r['scenario_years_per_s']:.3g} | {r['sample_s']:.2f} | {r['model_s']:.2f} | "
                f"{_s(r['speedup_vs_1'], '{:.2f}×')} | {r['parallel_efficiency']:.0%} |"
            )
        lines.append("")
    xs = result.get("xarray_summary")
    if xs:
        lines += [f"In-memory quantile summary (`engine.analysis.results.summarise`, xarray) of {xs['scenarios']:,} scenarios: {xs['summarise_s']:.2f} s.", ""]
    sr = result.get("summary_runs")
    if sr:
        lines += [
            "## CPU: streaming summary runs (default cells, no cube kept)",
            "",
            "| scenarios | cells | scen-yr/s | summary s | finalize s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in sr:
            lines.append(f"| {r['scenarios']:.0e} | {r['cells']} | {r['scenario_years_per_s']:.3g} | {r['summary_s']:.2f} | {r['finalize_s']:.2f} |")
        lines.append("")
    g = result.get("gpu")
    if g:
        d = g["device"]
        lines += [
            "## GPU",
            "",
            f"Device: **{d.get('name')}** (compute capability {d.get('compute_capability')}, "
            f"{d.get('multiprocessors', '?')} SMs, {(d.get('memory_total_bytes') or 0) / 2**30:.0f} GiB); "
            f"driver {d.get('smi_driver_version', '?')} (CUDA {d.get('driver_cuda_version', '?')}), runtime {d.get('runtime_cuda_version', '?')}, "
            f"NVVM {d.get('nvvm_version', '?')}; numba {d.get('numba')}, numba-cuda {d.get('numba_cuda')} ({d.get('cuda_target')} target).",
            "",
        ]
        c = g.get("compile")
        if c:
            lines += [f"**JIT (GPU)**: first launches {c['total_s']:.1f} s (sample {c['sample_kernel_s']:.1f} s, model {c['project_kernel_s']:.1f} s, "
                      f"fused {c['fused_kernel_s']:.1f} s); no disk cache.", ""]
        ck = g.get("check")
        if ck:
            lines += [f"**Agreement with the CPU** ({ck['scenarios']:,} scenarios, float64): uniforms bit-identical: "
                      f"{ck['uniforms_bit_identical']}; largest relative difference of any output {ck['max_rel_diff']:.2e} "
                      f"(rtol 1e-6: {'pass' if ck['agree_rtol_1e-6'] else 'FAIL'}).", ""]
        if g.get("sizes"):
            lines += [
                "| scenarios | scen-yr/s | × CPU | sample s | model s | × floor | fused scen-yr/s | × CPU | fused × floor | transfer s (GB/s) | with transfer × CPU |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for r in g["sizes"]:
                tr = f"{r['transfer_s']:.2f} ({r['transfer_gb_per_s']:.1f})" if "transfer_s" in r else "–"
                lines.append(
                    f"| {r['scenarios']:.0e} | {r['scenario_years_per_s']:.3g} | {_s(r.get('speedup_vs_cpu_all_cores'), '{:.1f}×')} | "
                    f"{r['sample_s']:.3f} | {r['model_s']:.3f} | {r['compute_vs_bandwidth_floor']:.1f}× | "
                    f"{fmt_rate(r.get('fused_scenario_years_per_s'))} | {_s(r.get('fused_speedup_vs_cpu_all_cores'), '{:.1f}×')} | "
                    f"{_s(r.get('fused_vs_bandwidth_floor'), '{:.1f}×')} | {tr} | {_s(r.get('with_transfer_speedup_vs_cpu_all_cores'), '{:.1f}×')} |"
                )
            cb = result.get("cpu_best")
            if cb:
                lines += ["", f"× CPU: against the best CPU throughput of this run ({cb['scenario_years_per_s']:.3g} scen-yr/s "
                              f"at {cb['scenarios']:.0e} scenarios, {cb['threads']} threads)."]
        lines.append("")
        gs = g.get("summary_runs")
        if gs:
            lines += [
                "### GPU: summary runs (device-side summaries)",
                "",
                "| scenarios | cells | scen-yr/s | × CPU summary | wall s | device s |",
                "|---:|---:|---:|---:|---:|---:|",
            ]
            for r in gs:
                lines.append(
                    f"| {r['scenarios']:.0e} | {r['cells']} | {r['scenario_years_per_s']:.3g} | "
                    f"{_s(r.get('speedup_vs_cpu_summary'), '{:.1f}×')} | {r['summary_s']:.2f} | {r['device_s']:.2f} |"
                )
            lines += ["", "× CPU summary: against the best CPU summary run of this run (all cores). Issue 4's targets: "
                          "≥ 25× on an H100; 10^9 scenarios in < 5 s after compilation.", ""]
        for sk in g.get("skipped") or []:
            lines.append(f"Skipped ({sk['what']}): {sk['scenarios']:.0e} scenarios, predicted {sk['predicted_s']:.0f} s (over --gpu-budget).")
    return "\n".join(lines)
