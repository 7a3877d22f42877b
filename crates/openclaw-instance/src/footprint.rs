//! Port footprints: every port an instance may bind, and overlap tests.

use std::fmt;

use serde::Serialize;

/// What a port range is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    Gateway,
    BrowserControl,
    Canvas,
    CdpRange,
    /// `browser.profiles.<name>.cdpPort`
    ExplicitCdp(String),
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Purpose::Gateway => f.write_str("gateway"),
            Purpose::BrowserControl => f.write_str("browser control"),
            Purpose::Canvas => f.write_str("canvas host"),
            Purpose::CdpRange => f.write_str("CDP range"),
            Purpose::ExplicitCdp(name) => write!(f, "CDP port of browser profile {name}"),
        }
    }
}

/// An inclusive range of ports with its purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
    pub purpose: Purpose,
}

impl PortRange {
    pub fn new(start: u16, end: u16, purpose: Purpose) -> Self {
        debug_assert!(start <= end);
        PortRange {
            start,
            end,
            purpose,
        }
    }

    pub fn single(port: u16, purpose: Purpose) -> Self {
        PortRange::new(port, port, purpose)
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    pub fn ports(&self) -> impl Iterator<Item = u16> + use<> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{} {}", self.purpose, self.start)
        } else {
            write!(f, "{} {}-{}", self.purpose, self.start, self.end)
        }
    }
}

/// Two ranges of two footprints that share at least one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub ours: PortRange,
    pub theirs: PortRange,
    /// The lowest shared port.
    pub first_shared: u16,
}

/// Every port range an instance may bind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footprint {
    pub ranges: Vec<PortRange>,
}

impl Footprint {
    pub fn new(ranges: Vec<PortRange>) -> Self {
        Footprint { ranges }
    }

    /// Every pair of ranges, one from each footprint, that share a port.
    pub fn overlaps(&self, other: &Footprint) -> Vec<Overlap> {
        let mut out = Vec::new();
        for ours in &self.ranges {
            for theirs in &other.ranges {
                if ours.overlaps(theirs) {
                    out.push(Overlap {
                        ours: ours.clone(),
                        theirs: theirs.clone(),
                        first_shared: ours.start.max(theirs.start),
                    });
                }
            }
        }
        out
    }

    /// The range that holds `port`, if any.
    pub fn find(&self, port: u16) -> Option<&PortRange> {
        self.ranges.iter().find(|r| r.contains(port))
    }

    /// Every distinct port, ascending.
    pub fn ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.ranges.iter().flat_map(PortRange::ports).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Lowest and highest port.
    pub fn span(&self) -> (u16, u16) {
        let lo = self.ranges.iter().map(|r| r.start).min().unwrap_or(0);
        let hi = self.ranges.iter().map(|r| r.end).max().unwrap_or(0);
        (lo, hi)
    }
}

/// Picks the lowest base port at or above `start` whose whole footprint (as
/// built by `footprint_of`, which returns `None` once the footprint would run
/// past 65535) overlaps none of `others` and whose every port `is_free` says
/// is free right now. Pure: the caller supplies the probe.
///
/// Returns `None` when no base port fits.
pub fn choose_base_port(
    start: u16,
    others: &[Footprint],
    footprint_of: impl Fn(u16) -> Option<Footprint>,
    is_free: impl Fn(u16) -> bool,
) -> Option<u16> {
    (start..=u16::MAX).find_map(|base| {
        let fp = footprint_of(base)?;
        let clashes = others.iter().any(|o| !fp.overlaps(o).is_empty());
        (!clashes && fp.ports().into_iter().all(&is_free)).then_some(base)
    })
}
