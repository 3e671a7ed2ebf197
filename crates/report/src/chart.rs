//! A small SVG plotting kit: scatter/line/step series on linear or log axes with ticks, labels,
//! a legend and `<title>` tooltips. Only what the report draws, written out as text.

use std::fmt::Write;

/// Width of a legend entry's text per character at the legend's font size (an estimate: SVG text
/// is measured by the browser, not here).
const LEGEND_CHAR_PX: f64 = 6.6;
/// Same for a point label (10 px text), and the padding and height of its box.
const LABEL_CHAR_PX: f64 = 6.2;
const LABEL_PAD: f64 = 2.0;
const LABEL_H: f64 = 13.0;
/// Beyond this many labelled points, labels are left to the tooltips.
const MAX_LABELS: usize = 400;
/// How far past the marker's edge a label is tried, in pixels: the first ring touches the marker,
/// the others are joined to it by a leader line.
const LABEL_RINGS: [f64; 5] = [0.0, 9.0, 20.0, 33.0, 48.0];

/// Escapes text for XML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a series joins its points.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Line {
    /// Markers only.
    None,
    /// Straight segments in point order.
    Straight,
    /// A staircase: horizontal to the next x, then vertical (a frontier: best y within an x budget).
    Step,
}

/// Marker shape.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// No marker.
    None,
    /// A disc.
    Circle,
    /// A square.
    Square,
    /// A diamond.
    Diamond,
    /// An upward triangle.
    Triangle,
    /// A five-pointed star.
    Star,
}

/// One plotted point.
#[derive(Clone, Debug)]
pub(crate) struct Datum {
    /// Data x.
    pub x: f64,
    /// Data y.
    pub y: f64,
    /// Identifier written as `data-id` (e.g. the point id).
    pub id: String,
    /// Text drawn beside the marker.
    pub label: Option<String>,
    /// Tooltip (`<title>`).
    pub tooltip: String,
}

/// A named set of points drawn one way.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Legend text; an empty name keeps the series out of the legend.
    pub name: String,
    /// CSS class of the series group and its markers (`frontier`, `measured`...).
    pub class: String,
    /// Stroke and fill colour.
    pub color: String,
    /// How points are joined.
    pub line: Line,
    /// Dashed line.
    pub dashed: bool,
    /// Marker shape.
    pub shape: Shape,
    /// Filled or hollow markers.
    pub filled: bool,
    /// Marker radius in pixels.
    pub size: f64,
    /// Its labels are placed before those of other series, so they get the nearest free spots.
    pub label_first: bool,
    /// The points, in drawing order.
    pub data: Vec<Datum>,
}

impl Series {
    /// A series with the usual look: a line of width 1.5, filled markers of radius 4.
    pub fn new(
        name: impl Into<String>,
        class: &str,
        color: &str,
        line: Line,
        shape: Shape,
    ) -> Series {
        Series {
            name: name.into(),
            class: class.into(),
            color: color.into(),
            line,
            dashed: false,
            shape,
            filled: true,
            size: 4.0,
            label_first: false,
            data: Vec::new(),
        }
    }
}

/// Thin segments from one position to another (a prediction to its measurement, an interval).
#[derive(Clone, Debug)]
pub(crate) struct Links {
    /// Legend text.
    pub name: String,
    /// CSS class.
    pub class: String,
    /// Colour.
    pub color: String,
    /// Dashed (a link between two marks) rather than solid and faint (an error bar).
    pub dashed: bool,
    /// The segments.
    pub segments: Vec<Segment>,
}

/// A segment between two data positions, with a tooltip.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    /// Start (x, y).
    pub from: (f64, f64),
    /// End (x, y).
    pub to: (f64, f64),
    /// Tooltip.
    pub tooltip: String,
}

/// One set of axes with its series.
#[derive(Clone, Debug)]
pub(crate) struct Chart {
    /// Title above the plot area.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Use a log scale for x when the data spans more than this ratio (and is positive); with
    /// `identity`, for both axes.
    pub x_log_above_ratio: Option<f64>,
    /// Same x and y domain and a dashed y = x line (predicted vs measured).
    pub identity: bool,
    /// Bounds of the y values' meaning (accuracy: 0 to 1): the y domain (and with `identity` the x
    /// domain) is fitted to the data and stops at most 2% of its span beyond them; an axis that
    /// does not reach a bound says so in its label (`accuracy (axis from 0.5)`).
    pub y_bounds: Option<(f64, f64)>,
    /// Series, drawn in order (later on top).
    pub series: Vec<Series>,
    /// Link sets, drawn under the series.
    pub links: Vec<Links>,
    /// Draw the legend at the right of the plot area.
    pub legend: bool,
}

/// A numeric axis mapping a data interval to a pixel interval.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Scale {
    lo: f64,
    hi: f64,
    px_lo: f64,
    px_hi: f64,
    log: bool,
}

impl Scale {
    fn map(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (
                v.max(f64::MIN_POSITIVE).log10(),
                self.lo.log10(),
                self.hi.log10(),
            )
        } else {
            (v, self.lo, self.hi)
        };
        self.px_lo + (v - lo) / (hi - lo) * (self.px_hi - self.px_lo)
    }

    /// Tick positions within the domain.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            log_ticks(self.lo, self.hi)
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let first = (self.lo / step - 1e-9).ceil() as i64;
            let last = (self.hi / step + 1e-9).floor() as i64;
            (first..=last).map(|i| i as f64 * step).collect()
        }
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten at least `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= raw * (1.0 - 1e-9) {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Ticks for a log axis, increasing: decades, else 1-2-5 per decade, else every whole multiple of
/// a decade, the coarsest of these giving at least 4 ticks within [lo, hi] (the finest when none
/// does: an axis narrower than a factor of 2).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let ladders: [&[f64]; 3] = [
        &[1.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ];
    let mut out = Vec::new();
    for mults in ladders {
        out.clear();
        for d in d0..=d1 {
            for m in mults {
                let v = m * 10f64.powi(d);
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        if out.len() >= 4 {
            break;
        }
    }
    out
}

/// A tick value as text: no more decimals than the ticks need, no trailing zeros.
pub(crate) fn tick_text(v: f64) -> String {
    let mut s = format!("{v:.4}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// A data interval with a margin, widened when degenerate, then rounded out to ticks (linear) or
/// padded multiplicatively (log).
fn domain(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = ((h - l) * 0.05).max(0.05);
        return (10f64.powf(l - pad), 10f64.powf(h + pad));
    }
    if hi - lo < 1e-12 {
        let w = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            0.5
        };
        lo -= w;
        hi += w;
    }
    let pad = (hi - lo) * 0.05;
    let step = nice_step((hi - lo + 2.0 * pad) / 5.0);
    (
        ((lo - pad) / step).floor() * step,
        ((hi + pad) / step).ceil() * step,
    )
}

/// Margins of the plot area inside a chart's box.
const LEFT: f64 = 62.0;
const RIGHT_PAD: f64 = 14.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

impl Chart {
    /// A chart with no series yet.
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log_above_ratio: None,
            identity: false,
            y_bounds: None,
            series: Vec::new(),
            links: Vec::new(),
            legend: true,
        }
    }

    /// The legend rows: each link set and named series, as a data-less series giving its look.
    fn legend_entries(&self) -> Vec<Series> {
        let links = self
            .links
            .iter()
            .filter(|l| !l.segments.is_empty())
            .map(|l| {
                let mut look =
                    Series::new(&l.name, &l.class, &l.color, Line::Straight, Shape::None);
                look.dashed = l.dashed;
                look
            });
        let series = self
            .series
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| Series {
                data: Vec::new(),
                ..s.clone()
            });
        links.chain(series).collect()
    }

    fn legend_width(&self) -> f64 {
        if !self.legend {
            return 0.0;
        }
        let chars = self
            .legend_entries()
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(0);
        if chars == 0 {
            0.0
        } else {
            chars as f64 * LEGEND_CHAR_PX + 44.0
        }
    }

    fn all_points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let data = self
            .series
            .iter()
            .flat_map(|s| s.data.iter().map(|d| (d.x, d.y)));
        let links = self
            .links
            .iter()
            .flat_map(|l| l.segments.iter().flat_map(|s| [s.from, s.to]));
        data.chain(links)
    }

    /// The chart as a standalone SVG document of the given size.
    pub fn to_svg(&self, width: f64, height: f64, id: &str) -> String {
        let mut out = String::new();
        open_svg(&mut out, width, height, &self.title);
        self.render(&mut out, 0.0, 0.0, width, height, id);
        out.push_str("</svg>\n");
        out
    }

    /// Draws the chart into the box at (x0, y0) of size w x h. `id` makes clip-path ids unique.
    pub fn render(&self, out: &mut String, x0: f64, y0: f64, w: f64, h: f64, id: &str) {
        let legend_w = self.legend_width();
        let (px0, px1) = (x0 + LEFT, x0 + w - RIGHT_PAD - legend_w);
        let (py0, py1) = (y0 + TOP, y0 + h - BOTTOM);
        let xs = || self.all_points().map(|p| p.0);
        let ys = || self.all_points().map(|p| p.1);
        let positive: Vec<f64> = xs().filter(|x| x.is_finite() && *x > 0.0).collect();
        let ratio = positive.iter().cloned().fold(0.0, f64::max)
            / positive.iter().cloned().fold(f64::INFINITY, f64::min);
        let all_positive = positive.len() == xs().filter(|x| x.is_finite()).count()
            && (!self.identity || ys().filter(|y| y.is_finite()).all(|y| y > 0.0));
        let x_log = self.x_log_above_ratio.is_some_and(|r| ratio > r) && all_positive;
        // An identity chart shares one domain (and one scale kind) between its axes.
        let y_log = self.identity && x_log;
        let (mut xd, mut yd) = (domain(xs(), x_log), domain(ys(), false));
        if self.identity {
            xd = domain(xs().chain(ys()), x_log);
            yd = xd;
        }
        // What a fitted axis leaves out of the values' bounds, said in the axis label.
        let mut fitted = String::new();
        if let Some((lo, hi)) = self.y_bounds {
            let margin = (yd.1 - yd.0) * 0.02;
            yd = (yd.0.max(lo - margin), yd.1.min(hi + margin));
            if self.identity {
                xd = yd;
            }
            fitted = match (yd.0 > lo + 1e-9, yd.1 < hi - 1e-9) {
                (true, true) => format!(" (axis {} to {})", tick_text(yd.0), tick_text(yd.1)),
                (true, false) => format!(" (axis from {})", tick_text(yd.0)),
                (false, true) => format!(" (axis to {})", tick_text(yd.1)),
                (false, false) => String::new(),
            };
        }
        let axis_label = |label: &str, log: bool, bounded: bool| {
            let mut text = label.to_string();
            if bounded {
                text.push_str(&fitted);
            }
            if log {
                text.push_str(" (log scale)");
            }
            text
        };
        let sx = Scale {
            lo: xd.0,
            hi: xd.1,
            px_lo: px0,
            px_hi: px1,
            log: x_log,
        };
        let sy = Scale {
            lo: yd.0,
            hi: yd.1,
            px_lo: py1,
            px_hi: py0,
            log: y_log,
        };

        let _ = write!(
            out,
            r#"<g class="chart" data-title="{}"><text class="chart-title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            esc(&self.title),
            (px0 + px1) / 2.0,
            y0 + 18.0,
            esc(&self.title)
        );
        let _ = write!(
            out,
            r##"<rect class="plot-area" x="{px0:.1}" y="{py0:.1}" width="{:.1}" height="{:.1}" fill="#fff" stroke="#999"/>"##,
            px1 - px0,
            py1 - py0
        );
        // Axes: grid lines, ticks and tick labels.
        out.push_str(r#"<g class="axis x-axis">"#);
        for t in sx.ticks() {
            let x = sx.map(t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{py0:.1}" x2="{x:.1}" y2="{py1:.1}" stroke="#e6e6e6"/><line x1="{x:.1}" y1="{py1:.1}" x2="{x:.1}" y2="{:.1}" stroke="#666"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                py1 + 5.0,
                py1 + 17.0,
                tick_text(t)
            );
        }
        let _ = write!(
            out,
            r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            (px0 + px1) / 2.0,
            py1 + 35.0,
            esc(&axis_label(&self.x_label, x_log, self.identity))
        );
        out.push_str(r#"<g class="axis y-axis">"#);
        for t in sy.ticks() {
            let y = sy.map(t);
            let _ = write!(
                out,
                r##"<line x1="{px0:.1}" y1="{y:.1}" x2="{px1:.1}" y2="{y:.1}" stroke="#e6e6e6"/><line x1="{:.1}" y1="{y:.1}" x2="{px0:.1}" y2="{y:.1}" stroke="#666"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                px0 - 5.0,
                px0 - 7.0,
                y + 4.0,
                tick_text(t)
            );
        }
        let (lx, ly) = (x0 + 14.0, (py0 + py1) / 2.0);
        let _ = write!(
            out,
            r#"<text class="axis-label" x="{lx:.1}" y="{ly:.1}" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text></g>"#,
            esc(&axis_label(&self.y_label, y_log, true))
        );

        let clip = format!("clip-{id}");
        let _ = write!(
            out,
            r#"<clipPath id="{clip}"><rect x="{px0:.1}" y="{py0:.1}" width="{:.1}" height="{:.1}"/></clipPath><g clip-path="url(#{clip})">"#,
            px1 - px0,
            py1 - py0
        );
        if self.identity {
            let lo = xd.0.max(yd.0);
            let hi = xd.1.min(yd.1);
            let _ = write!(
                out,
                r##"<line class="identity" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="5 4"><title>y = x: measured equals predicted</title></line>"##,
                sx.map(lo),
                sy.map(lo),
                sx.map(hi),
                sy.map(hi)
            );
        }
        for l in &self.links {
            let _ = write!(out, r#"<g class="links {}">"#, esc(&l.class));
            for Segment {
                from: (ax, ay),
                to: (bx, by),
                tooltip: tip,
            } in &l.segments
            {
                let look = if l.dashed {
                    r#"stroke-width="1.2" stroke-dasharray="3 3""#
                } else {
                    r#"stroke-width="1" stroke-opacity="0.45""#
                };
                let _ = write!(
                    out,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" {look}><title>{}</title></line>"#,
                    sx.map(*ax),
                    sy.map(*ay),
                    sx.map(*bx),
                    sy.map(*by),
                    esc(&l.color),
                    esc(tip)
                );
            }
            out.push_str("</g>");
        }
        for s in &self.series {
            draw_line(out, s, &sx, &sy);
        }
        out.push_str("</g>");
        for s in &self.series {
            let _ = write!(out, r#"<g class="series {}">"#, esc(&s.class));
            for d in s.data.iter().filter(|d| d.x.is_finite() && d.y.is_finite()) {
                marker(out, s, &d.id, sx.map(d.x), sy.map(d.y), &d.tooltip);
            }
            out.push_str("</g>");
        }
        self.draw_labels(out, &sx, &sy, (px0, py0, px1, py1));
        if self.legend {
            self.draw_legend(out, px1 + 12.0, py0);
        }
        out.push_str("</g>");
    }

    /// Draws the point labels over the markers, never two overlapping: the `label_first` series'
    /// first, then the others in order, each at the nearest free spot (see [`place_label`]); past
    /// [`MAX_LABELS`] labels none is drawn and the tooltips name the points.
    fn draw_labels(&self, out: &mut String, sx: &Scale, sy: &Scale, area: Rect) {
        let finite = |d: &&Datum| d.x.is_finite() && d.y.is_finite();
        let markers: Vec<Rect> = self
            .series
            .iter()
            .filter(|s| s.shape != Shape::None)
            .flat_map(|s| {
                s.data.iter().filter(finite).map(|d| {
                    let r = s.size;
                    (sx.map(d.x) - r, sy.map(d.y) - r, 2.0 * r, 2.0 * r)
                })
            })
            .collect();
        let labelled = || {
            let (first, rest): (Vec<&Series>, Vec<&Series>) =
                self.series.iter().partition(|s| s.label_first);
            first.into_iter().chain(rest).flat_map(|s| {
                s.data
                    .iter()
                    .filter(finite)
                    .filter_map(move |d| d.label.as_ref().map(|l| (s, d, l)))
            })
        };
        if labelled().count() > MAX_LABELS {
            return;
        }
        out.push_str(r#"<g class="labels">"#);
        let mut placed = Vec::new();
        for (s, d, label) in labelled() {
            let at = (sx.map(d.x), sy.map(d.y));
            place_label(out, label, at, s.size, area, &markers, &mut placed);
        }
        out.push_str("</g>");
    }

    fn draw_legend(&self, out: &mut String, x: f64, y: f64) {
        out.push_str(r#"<g class="legend">"#);
        for (i, look) in self.legend_entries().iter().enumerate() {
            legend_entry(out, x, y + 10.0 + i as f64 * 18.0, look);
        }
        out.push_str("</g>");
    }
}

/// One legend row centred on `cy`: a line sample and/or marker drawn like `look`, then its name.
pub(crate) fn legend_entry(out: &mut String, x: f64, cy: f64, look: &Series) {
    if look.line != Line::None {
        let dash = if look.dashed {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{}" stroke-width="1.5"{dash}/>"#,
            x + 24.0,
            esc(&look.color)
        );
    }
    let sample = Series {
        size: 4.0,
        ..look.clone()
    };
    shape_path(out, &sample, x + 12.0, cy, "");
    let _ = write!(
        out,
        r#"<text class="legend-text" x="{:.1}" y="{:.1}">{}</text>"#,
        x + 30.0,
        cy + 4.0,
        esc(&look.name)
    );
}

fn draw_line(out: &mut String, s: &Series, sx: &Scale, sy: &Scale) {
    let pts: Vec<(f64, f64)> = s
        .data
        .iter()
        .filter(|d| d.x.is_finite() && d.y.is_finite())
        .map(|d| (sx.map(d.x), sy.map(d.y)))
        .collect();
    if s.line == Line::None || pts.len() < 2 {
        return;
    }
    let mut path = String::new();
    for (i, (x, y)) in pts.iter().enumerate() {
        if i == 0 {
            let _ = write!(path, "M{x:.1},{y:.1}");
        } else if s.line == Line::Step {
            let _ = write!(path, " H{x:.1} V{y:.1}");
        } else {
            let _ = write!(path, " L{x:.1},{y:.1}");
        }
    }
    let dash = if s.dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"<path class="line {}" d="{path}" fill="none" stroke="{}" stroke-width="1.6"{dash}/>"#,
        esc(&s.class),
        esc(&s.color)
    );
}

fn marker(out: &mut String, s: &Series, id: &str, x: f64, y: f64, tooltip: &str) {
    let attrs = format!(r#" class="marker {}" data-id="{}""#, esc(&s.class), esc(id));
    shape_path(out, s, x, y, &attrs);
    // shape_path leaves the element open for the tooltip.
    let _ = write!(
        out,
        "<title>{}</title>{}",
        esc(tooltip),
        shape_close(s.shape)
    );
}

fn shape_close(shape: Shape) -> &'static str {
    match shape {
        Shape::None => "</g>",
        Shape::Circle => "</circle>",
        Shape::Square => "</rect>",
        Shape::Diamond | Shape::Triangle | Shape::Star => "</polygon>",
    }
}

/// Writes the marker element; with `attrs` non-empty the element is left open (for a `<title>`),
/// otherwise it is closed.
fn shape_path(out: &mut String, s: &Series, x: f64, y: f64, attrs: &str) {
    let r = s.size;
    // A hollow marker still shows its tooltip when hovered inside.
    let fill = if s.filled {
        esc(&s.color)
    } else {
        r#"none" pointer-events="all"#.into()
    };
    let paint = format!(
        r#" fill="{fill}" stroke="{}" stroke-width="1.4""#,
        esc(&s.color)
    );
    let end = if attrs.is_empty() { "/>" } else { ">" };
    let polygon = |pts: &[(f64, f64)]| {
        pts.iter()
            .map(|(dx, dy)| format!("{:.1},{:.1}", x + dx, y + dy))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match s.shape {
        Shape::None => {
            if !attrs.is_empty() {
                let _ = write!(out, "<g{attrs}>");
            }
        }
        Shape::Circle => {
            let _ = write!(
                out,
                r#"<circle{attrs} cx="{x:.1}" cy="{y:.1}" r="{r:.1}"{paint}{end}"#
            );
        }
        Shape::Square => {
            let a = r * 0.9;
            let _ = write!(
                out,
                r#"<rect{attrs} x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"{paint}{end}"#,
                x - a,
                y - a,
                2.0 * a,
                2.0 * a
            );
        }
        Shape::Diamond => {
            let a = r * 1.3;
            let p = polygon(&[(0.0, -a), (a, 0.0), (0.0, a), (-a, 0.0)]);
            let _ = write!(out, r#"<polygon{attrs} points="{p}"{paint}{end}"#);
        }
        Shape::Triangle => {
            let a = r * 1.25;
            let p = polygon(&[(0.0, -a), (a * 0.9, a * 0.7), (-a * 0.9, a * 0.7)]);
            let _ = write!(out, r#"<polygon{attrs} points="{p}"{paint}{end}"#);
        }
        Shape::Star => {
            let pts: Vec<(f64, f64)> = (0..10)
                .map(|i| {
                    let rad = if i % 2 == 0 { r * 1.6 } else { r * 0.7 };
                    let a = std::f64::consts::PI * (i as f64 / 5.0 - 0.5);
                    (rad * a.cos(), rad * a.sin())
                })
                .collect();
            let _ = write!(
                out,
                r#"<polygon{attrs} points="{}"{paint}{end}"#,
                polygon(&pts)
            );
        }
    }
}

/// A box: left, top, width, height, in pixels.
type Rect = (f64, f64, f64, f64);

/// Whether two boxes share interior points.
fn overlap(a: Rect, b: Rect) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

/// Places a point label in a box beside its marker (at `at`, radius `r`): the first of eight
/// positions around the marker, tried ring by ring ([`LABEL_RINGS`]), that stays inside the plot
/// area and overlaps no label placed before, first among positions that cover no marker either,
/// then among all. A label set off from its marker gets a leader line; one that fits nowhere is
/// left out (the marker's tooltip still names the point).
fn place_label(
    out: &mut String,
    label: &str,
    (x, y): (f64, f64),
    r: f64,
    area: Rect,
    markers: &[Rect],
    placed: &mut Vec<Rect>,
) {
    let w = label.chars().count() as f64 * LABEL_CHAR_PX + 2.0 * LABEL_PAD;
    let h = LABEL_H;
    // (left, top) of the label box at each position, `g` from the marker's centre.
    let around = |g: f64| {
        [
            (x + g, y - g - h),
            (x + g, y + g),
            (x - g - w, y - g - h),
            (x - g - w, y + g),
            (x - w / 2.0, y - g - h),
            (x - w / 2.0, y + g),
            (x + g, y - h / 2.0),
            (x - g - w, y - h / 2.0),
        ]
    };
    let (ax0, ay0, ax1, ay1) = area;
    let inside = |(l, t): (f64, f64)| l >= ax0 && t >= ay0 && l + w <= ax1 && t + h <= ay1;
    let free = |b: Rect, others: &[Rect]| others.iter().all(|&o| !overlap(b, o));
    let chosen = [true, false].into_iter().find_map(|avoid_markers| {
        LABEL_RINGS.iter().find_map(|&ring| {
            around(r + 1.0 + ring).into_iter().find_map(|(l, t)| {
                let b = (l, t, w, h);
                (inside((l, t)) && free(b, placed) && (!avoid_markers || free(b, markers)))
                    .then_some((b, ring))
            })
        })
    });
    let Some(((l, t, w, h), ring)) = chosen else {
        return;
    };
    placed.push((l, t, w, h));
    if ring > 0.0 {
        // From the marker's edge to the nearest point of the box.
        let (bx, by) = (x.clamp(l, l + w), y.clamp(t, t + h));
        let len = (bx - x).hypot(by - y).max(f64::MIN_POSITIVE);
        let _ = write!(
            out,
            r##"<line class="leader" x1="{:.1}" y1="{:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="#777" stroke-width="0.8"/>"##,
            x + (bx - x) / len * r,
            y + (by - y) / len * r
        );
    }
    let _ = write!(
        out,
        r##"<rect class="label-box" x="{l:.1}" y="{t:.1}" width="{w:.1}" height="{h:.1}" rx="2" fill="#fff" fill-opacity="0.85"/><text class="point-label" x="{:.1}" y="{:.1}">{}</text>"##,
        l + LABEL_PAD,
        t + h - 3.0,
        esc(label)
    );
}

/// Opens a standalone SVG document with its stylesheet.
pub(crate) fn open_svg(out: &mut String, width: f64, height: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="{}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">"#,
        esc(title)
    );
    out.push_str(
        "<style>.chart-title{font-size:14px;font-weight:600;fill:#222}.tick{font-size:11px;fill:#444}\
         .axis-label{font-size:12px;fill:#222}.legend-text{font-size:12px;fill:#222}\
         .point-label{font-size:10px;fill:#222}\
         .marker:hover{stroke-width:3}</style>",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_and_tick_text() {
        assert_eq!(nice_step(0.07), 0.1);
        assert_eq!(nice_step(0.04), 0.05);
        assert_eq!(nice_step(0.021), 0.025);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(tick_text(0.30000000000000004), "0.3");
        assert_eq!(tick_text(20.0), "20");
        assert_eq!(tick_text(-0.0), "0");
    }

    #[test]
    fn linear_domain_is_rounded_out_to_ticks() {
        let (lo, hi) = domain([0.62, 0.93].into_iter(), false);
        assert!(
            lo <= 0.62 && hi >= 0.93 && lo >= 0.5 && hi <= 1.0,
            "{lo} {hi}"
        );
        let s = Scale {
            lo,
            hi,
            px_lo: 0.0,
            px_hi: 100.0,
            log: false,
        };
        let ticks = s.ticks();
        assert!(ticks.len() >= 4 && ticks.len() <= 11, "{ticks:?}");
        let (lo, hi) = domain([2.0, 2.0].into_iter(), false);
        assert!(lo < 2.0 && hi > 2.0, "{lo} {hi}");
    }

    #[test]
    fn log_ticks_cover_the_domain() {
        assert_eq!(log_ticks(0.8, 60.0), vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        assert_eq!(log_ticks(0.5, 5000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(0.9, 150.0).len(), 7);
        assert_eq!(log_ticks(1.8, 5.5), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(log_ticks(0.05, 2000.0).len(), 5);
        let s = Scale {
            lo: 1.0,
            hi: 100.0,
            px_lo: 0.0,
            px_hi: 200.0,
            log: true,
        };
        assert!((s.map(10.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(
            esc(r#"<a & "b" 'c'>"#),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;"
        );
    }

    #[test]
    fn labels_avoid_each_other_and_markers() {
        let mut out = String::new();
        let mut placed = Vec::new();
        let area = (0.0, 0.0, 200.0, 200.0);
        let markers = [(96.0, 96.0, 8.0, 8.0), (104.0, 80.0, 8.0, 8.0)];
        for label in ["p0", "p1", "p2"] {
            place_label(
                &mut out,
                label,
                (100.0, 100.0),
                4.0,
                area,
                &markers,
                &mut placed,
            );
        }
        assert_eq!(placed.len(), 3);
        for (i, a) in placed.iter().enumerate() {
            assert!(markers.iter().all(|m| !overlap(*a, *m)), "{a:?}");
            assert!(placed[..i].iter().all(|b| !overlap(*a, *b)), "{placed:?}");
        }
        // A label with no room left is not drawn.
        let mut out = String::new();
        let mut full = vec![area];
        place_label(&mut out, "p9", (100.0, 100.0), 4.0, area, &[], &mut full);
        assert!(out.is_empty() && full.len() == 1);
    }
}
