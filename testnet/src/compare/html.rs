//! `report.html`: one self-contained page (inline SVG drawn by plotters,
//! inline CSS, no script, nothing fetched) with the comparison's charts and
//! tables.

use super::summary::{Est, Summary};
use crate::scenario::Scenario;
use anyhow::{anyhow, Result};
use plotters::prelude::*;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A series of a bar chart: its name, and a value (with an interval) for
/// each category.
struct Bars<'a> {
    name: &'a str,
    values: Vec<Est>,
}

fn err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A 560x320 SVG chart, drawn by `draw` on a white area.
fn svg_of(draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The series' legend, boxed, in a corner.
fn legend<'a, CT>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    at: SeriesLabelPosition,
) -> Result<()>
where
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Grouped bars, one group a category, error bars where an interval is wide.
fn bar_chart(title: &str, y: &str, categories: &[String], series: &[Bars<'_>]) -> Result<String> {
    svg_of(|root| {
        let top = series
            .iter()
            .flat_map(|s| s.values.iter().map(|v| v.high.max(v.value)))
            .fold(0.0f64, f64::max);
        let top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let n = categories.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.05 && i >= 0.0 {
                    categories.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y)
            .draw()
            .map_err(err)?;
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            let x0 = |i: usize| i as f64 - 0.4 + j as f64 * width;
            chart
                .draw_series(s.values.iter().enumerate().map(|(i, v)| {
                    Rectangle::new(
                        [(x0(i), 0.0), (x0(i) + width * 0.9, v.value)],
                        color.filled(),
                    )
                }))
                .map_err(err)?
                .label(s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
            chart
                .draw_series(
                    s.values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.high > v.low)
                        .map(|(i, v)| {
                            let c = x0(i) + width * 0.45;
                            PathElement::new(vec![(c, v.low), (c, v.high)], BLACK.stroke_width(2))
                        }),
                )
                .map_err(err)?;
        }
        if series.len() > 1 {
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    })
}

/// Reorg depth against time, one series a mechanism.
fn reorg_chart(sums: &[Summary]) -> Result<String> {
    svg_of(|root| {
        let t = sums
            .iter()
            .flat_map(|s| s.reorgs.iter().map(|r| r.0))
            .fold(1.0f64, f64::max);
        let d = sums
            .iter()
            .flat_map(|s| s.reorgs.iter().map(|r| r.1))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Honest reorgs over time (depth)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..t * 1.05, 0f64..d + 1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds from the start")
            .y_desc("depth")
            .draw()
            .map_err(err)?;
        for (j, s) in sums.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            chart
                .draw_series(
                    s.reorgs
                        .iter()
                        .map(|(t, d)| Circle::new((*t, *d as f64), 4, color.filled())),
                )
                .map_err(err)?
                .label(format!("{} ({} reorgs)", s.consensus, s.reorgs.len()))
                .legend(move |(x, y)| Circle::new((x + 5, y), 4, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// The attack's success against the attacker's share, a line a mechanism.
fn curve_chart(sums: &[Summary]) -> Result<String> {
    svg_of(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "The attack's success against the attacker's share",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, 0f64..1.05f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("the Byzantine share of the deciding resource")
            .y_desc("share of runs won")
            .draw()
            .map_err(err)?;
        for (j, s) in sums.iter().enumerate().filter(|(_, s)| !s.curve.is_empty()) {
            let color = PALETTE[j % PALETTE.len()];
            let points: Vec<(f64, f64)> = s.curve.iter().map(|(x, e)| (*x, e.value)).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(s.consensus.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(err)?;
            chart
                .draw_series(s.curve.iter().map(|(x, e)| {
                    PathElement::new(vec![(*x, e.low), (*x, e.high)], color.stroke_width(1))
                }))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page: each chart in a `<figure data-chart="...">`, then the tables.
pub fn page(raw: &Scenario, sums: &[Summary], json: &serde_json::Value) -> Result<String> {
    let cats: Vec<String> = sums.iter().map(|s| s.consensus.clone()).collect();
    let pick = |f: &dyn Fn(&Summary) -> Est| sums.iter().map(f).collect::<Vec<Est>>();
    let point = |x: f64| Est {
        value: x,
        low: x,
        high: x,
    };
    let invariants = super::summary::invariant_names(sums);
    let held: Vec<Vec<Est>> = invariants
        .iter()
        .map(|name| {
            sums.iter()
                .map(|s| {
                    let share = s
                        .invariants
                        .iter()
                        .find(|x| &x.0 == name)
                        .map_or(0.0, |x| x.1 as f64 / x.2.max(1) as f64);
                    point(share)
                })
                .collect()
        })
        .collect();
    let charts: Vec<(&str, String)> = vec![
        (
            "finality",
            bar_chart(
                "Finality latency",
                "ms",
                &cats,
                &[
                    Bars {
                        name: "p50",
                        values: pick(&|s| s.finality_p50_ms.clone()),
                    },
                    Bars {
                        name: "p90",
                        values: pick(&|s| s.finality_p90_ms.clone()),
                    },
                ],
            )?,
        ),
        (
            "throughput",
            bar_chart(
                "Throughput",
                "blocks per second",
                &cats,
                &[Bars {
                    name: "blocks/s",
                    values: pick(&|s| s.blocks_per_s.clone()),
                }],
            )?,
        ),
        ("reorgs", reorg_chart(sums)?),
        (
            "forks",
            bar_chart(
                "Forks: blocks off the main chain",
                "share of blocks",
                &cats,
                &[Bars {
                    name: "orphaned",
                    values: pick(&|s| s.orphan_rate.clone()),
                }],
            )?,
        ),
        (
            "share",
            bar_chart(
                "The attacker's share: resource and blocks",
                "share",
                &cats,
                &[
                    Bars {
                        name: "resource",
                        values: pick(&|s| point(s.attacker_resource)),
                    },
                    Bars {
                        name: "main-chain blocks",
                        values: pick(&|s| s.attacker_blocks.clone()),
                    },
                ],
            )?,
        ),
        (
            "success",
            bar_chart(
                "The attack's success (share of runs)",
                "share of runs",
                &cats,
                &[
                    Bars {
                        name: "safety broken",
                        values: pick(&|s| s.safety_broken.clone()),
                    },
                    Bars {
                        name: "payment reverted",
                        values: pick(&|s| s.payment_reverted.clone().unwrap_or_default()),
                    },
                ],
            )?,
        ),
        (
            "cost-gain",
            bar_chart(
                "The attacker's cost against its gain",
                "share",
                &cats,
                &[
                    Bars {
                        name: "cost: resource lost or blocks wasted",
                        values: pick(&|s| s.attacker_cost.clone()),
                    },
                    Bars {
                        name: "gain: blocks beyond its share + payments",
                        values: pick(&|s| s.attacker_gain.clone()),
                    },
                ],
            )?,
        ),
        (
            "honest-losses",
            bar_chart(
                "Honest losses: honest blocks orphaned",
                "share of honest blocks",
                &cats,
                &[Bars {
                    name: "orphaned",
                    values: pick(&|s| s.honest_orphaned.clone()),
                }],
            )?,
        ),
        (
            "invariants",
            bar_chart(
                "Invariants: share of runs in which each held",
                "share of runs",
                &cats,
                &invariants
                    .iter()
                    .zip(held)
                    .map(|(name, values)| Bars { name, values })
                    .collect::<Vec<_>>(),
            )?,
        ),
    ];
    let mut charts = charts;
    if sums.iter().any(|s| !s.curve.is_empty()) {
        charts.insert(6, ("success-vs-share", curve_chart(sums)?));
    }
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\nbody{{font-family:sans-serif;margin:24px;max-width:1200px}}\nfigure{{display:inline-block;margin:8px;border:1px solid #ddd}}\ntable{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\n.outside{{color:#b00;font-weight:bold}}\n</style></head><body>\n<h1>{title}</h1>\n<p>{desc}</p>\n<p>Runs: {runs}. Intervals are 95% (Wilson's for rates, normal for means). Version {version}.</p>\n",
        title = escape(&format!("Comparison: {}", raw.name)),
        desc = escape(&raw.description),
        runs = escape(json["runs"].as_str().unwrap_or("")),
        version = escape(json["version"].as_str().unwrap_or("")),
    );
    for (id, svg) in &charts {
        html.push_str(&format!("<figure data-chart=\"{id}\">{svg}</figure>\n"));
    }
    html.push_str("<h2>Figures</h2>\n");
    html.push_str(&markdown_table_to_html(&super::summary::markdown(
        raw, sums, json,
    )));
    html.push_str("</body></html>\n");
    Ok(html)
}

/// The markdown report's tables as HTML tables (headings as headings).
fn markdown_table_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with('|') {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                continue;
            }
            if !in_table {
                out.push_str("<table>\n");
                in_table = true;
            }
            out.push_str("<tr>");
            for c in cells {
                let text = escape(&c.replace("**", ""));
                if c.contains("**") {
                    out.push_str(&format!("<td class=\"outside\">{text}</td>"));
                } else {
                    out.push_str(&format!("<td>{text}</td>"));
                }
            }
            out.push_str("</tr>\n");
        } else {
            if in_table {
                out.push_str("</table>\n");
                in_table = false;
            }
            if let Some(h) = line.strip_prefix("## ") {
                out.push_str(&format!("<h2>{}</h2>\n", escape(h)));
            }
        }
    }
    if in_table {
        out.push_str("</table>\n");
    }
    out
}
