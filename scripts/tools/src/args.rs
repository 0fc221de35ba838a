//! A small command-line parser: `--name value`, `--name=value` and valueless switches.
//!
//! The tools take a handful of flags, so a few dozen lines do instead of a parser crate. Options
//! are taken out one by one as the tool reads them; [`Args::finish`] then rejects whatever is
//! left, so a mistyped flag is an error rather than silently ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

#[derive(Debug)]
pub struct Args {
    options: BTreeMap<String, String>,
    switches: BTreeSet<String>,
}

impl Args {
    /// The process's arguments; `switches` names the flags that take no value, like `--help`.
    pub fn from_env(switches: &[&str]) -> Result<Self> {
        Self::parse(std::env::args().skip(1), switches)
    }

    pub fn parse(raw: impl IntoIterator<Item = String>, switches: &[&str]) -> Result<Self> {
        let mut args = Args { options: BTreeMap::new(), switches: BTreeSet::new() };
        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            if !arg.starts_with("--") {
                bail!("unexpected argument `{arg}` (options look like --name value)");
            }
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if switches.contains(&name.as_str()) {
                if value.is_some() {
                    bail!("{name} takes no value");
                }
                args.switches.insert(name);
                continue;
            }
            let value = match value {
                Some(value) => value,
                None => raw.next().with_context(|| format!("{name} needs a value"))?,
            };
            if args.options.insert(name.clone(), value).is_some() {
                bail!("{name} is given twice");
            }
        }
        Ok(args)
    }

    /// Whether the switch was given.
    pub fn switch(&mut self, name: &str) -> bool {
        self.switches.remove(name)
    }

    /// The option's value parsed as `T`, if it was given.
    pub fn get<T>(&mut self, name: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.options
            .remove(name)
            .map(|raw| raw.parse::<T>().map_err(|e| anyhow::anyhow!("{name}: `{raw}` is not valid: {e}")))
            .transpose()
    }

    pub fn get_or<T>(&mut self, name: &str, default: T) -> Result<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.get(name)?.unwrap_or(default))
    }

    /// Fails on any option or switch that no one asked for.
    pub fn finish(self) -> Result<()> {
        let unknown: Vec<&String> = self.options.keys().chain(&self.switches).collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            bail!("unknown option(s): {} (see --help)", names.join(", "));
        }
        Ok(())
    }
}

/// A comma-separated list, blanks dropped: `a, b,,c` is `[a, b, c]`.
pub fn list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[&str]) -> Result<Args> {
        Args::parse(raw.iter().map(|s| s.to_string()), &["--help"])
    }

    #[test]
    fn reads_both_spellings_and_switches() {
        let mut args = parse(&["--count", "5", "--mode=random", "--help"]).unwrap();
        assert_eq!(args.get_or("--count", 30usize).unwrap(), 5);
        assert_eq!(args.get::<String>("--mode").unwrap().as_deref(), Some("random"));
        assert_eq!(args.get_or("--absent", 7u32).unwrap(), 7);
        assert!(args.switch("--help"));
        args.finish().unwrap();
    }

    #[test]
    fn rejects_leftovers_and_bad_values() {
        assert!(parse(&["--count"]).is_err());
        assert!(parse(&["stray"]).is_err());
        assert!(parse(&["--count", "1", "--count", "2"]).is_err());
        assert!(parse(&["--help=yes"]).is_err());
        let mut args = parse(&["--count", "many"]).unwrap();
        assert!(args.get::<usize>("--count").is_err());
        assert!(parse(&["--typo", "1"]).unwrap().finish().is_err());
    }

    #[test]
    fn lists_drop_blanks() {
        assert_eq!(list(" a, b,,c "), ["a", "b", "c"]);
    }
}
