//! Validation: a [`RoutingConfig`] as written becomes a [`Plan`], the shape the router is built
//! from, or a [`ConfigError`] naming the problem and the fix.

use std::collections::HashSet;

use super::{
    BackendKind, ConfigError, DEFAULT_GROUP, EngineSpec, PoolConfig, READ_GROUP, ReplicaConfig,
    RoutingConfig,
};
use crate::error::Result;
use crate::select::{MAX_TOTAL_WEIGHT, Picker, RoutingStrategy};

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) default_group: usize,
    /// `None` when the read group is absent or empty: reads then use the default group.
    pub(crate) read_group: Option<usize>,
    pub(crate) strategy: RoutingStrategy,
    pub(crate) sticky_after_write: bool,
    pub(crate) enabled: bool,
    pub(crate) backend: BackendKind,
    pub(crate) write_functions: Vec<String>,
    pub(crate) read_only_functions: Vec<String>,
    pub(crate) load_volatile_functions: bool,
    pub(crate) classification_cache: usize,
    pub(crate) health: super::HealthConfig,
    pub(crate) consistency: super::ConsistencyConfig,
    pub(crate) trace_statement_text: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupPlan {
    pub(crate) name: String,
    pub(crate) writable: bool,
    pub(crate) engines: Vec<EnginePlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnginePlan {
    pub(crate) name: String,
    pub(crate) url: super::ConnectionString,
    pub(crate) weight: u32,
    pub(crate) pool: PoolConfig,
}

impl RoutingConfig {
    pub(crate) fn plan(&self) -> Result<Plan> {
        let mut groups = self.group_plans()?;
        let default_name = self.default_group.as_deref().unwrap_or(DEFAULT_GROUP);
        let default_group = find(&groups, default_name)?;
        if groups[default_group].engines.is_empty() {
            return Err(ConfigError::EmptyGroup {
                group: default_name.to_owned(),
            }
            .into());
        }
        let read_name = self.read_group.as_deref().unwrap_or(READ_GROUP);
        let read_group = groups.iter().position(|g| g.name == read_name);
        if read_group.is_none() && self.read_group.is_some() {
            find(&groups, read_name)?;
        }
        if let Some(empty) = groups
            .iter()
            .find(|g| g.engines.is_empty() && g.name != read_name && g.name != READ_GROUP)
        {
            return Err(ConfigError::EmptyGroup {
                group: empty.name.clone(),
            }
            .into());
        }
        self.apply_group_options(&mut groups, default_group)?;
        if let Some(read) = read_group.filter(|r| *r != default_group)
            && groups[read].writable
        {
            return Err(ConfigError::WritableReadGroup {
                group: read_name.to_owned(),
            }
            .into());
        }
        check_writers(&groups, default_group)?;
        for group in &groups {
            let weights: Vec<u32> = group.engines.iter().map(|e| e.weight).collect();
            Picker::new(self.routing_strategy, &weights).map_err(|e| ConfigError::WeightSum {
                group: group.name.clone(),
                total: e.total,
                divisor: e.divisor,
                max: MAX_TOTAL_WEIGHT,
            })?;
        }
        let backend = backend_of(&groups)?;
        check_urls(&groups, backend)?;
        self.health.validate()?;
        self.consistency.validate()?;
        Ok(Plan {
            read_group: read_group.filter(|r| !groups[*r].engines.is_empty()),
            groups,
            default_group,
            strategy: self.routing_strategy,
            sticky_after_write: self.sticky_after_write,
            enabled: self.enabled,
            backend,
            write_functions: self.write_functions.clone(),
            read_only_functions: self.read_only_functions.clone(),
            load_volatile_functions: self.load_volatile_functions,
            classification_cache: self.classification_cache,
            health: self.health,
            consistency: self.consistency.clone(),
            trace_statement_text: self.trace_statement_text,
        })
    }

    /// The groups as written (either shape), before group options apply.
    fn written_groups(&self) -> Result<Vec<(String, Vec<EngineSpec>)>> {
        Ok(
            match (&self.primary_connection_string, self.engines.is_empty()) {
                (Some(_), false) => return Err(ConfigError::PrimaryAndEngines.into()),
                (None, true) => return Err(ConfigError::NoPrimary.into()),
                (Some(primary), true) => vec![
                    (
                        DEFAULT_GROUP.to_owned(),
                        vec![ReplicaConfig::new(primary.clone()).name("primary").into()],
                    ),
                    (READ_GROUP.to_owned(), self.read_replicas.clone()),
                ],
                (None, false) if !self.read_replicas.is_empty() => {
                    return Err(ConfigError::ReplicasWithEngines.into());
                }
                (None, false) => self
                    .engines
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        )
    }

    /// The groups with engine names and pool options resolved.
    fn group_plans(&self) -> Result<Vec<GroupPlan>> {
        let mut seen = HashSet::new();
        let mut plans = Vec::new();
        for (group, specs) in self.written_groups()? {
            if group.trim().is_empty() {
                return Err(ConfigError::EmptyName { what: "a group" }.into());
            }
            let group_pool = self.groups.get(&group).map(|o| o.pool).unwrap_or_default();
            let mut engines = Vec::with_capacity(specs.len());
            for (i, spec) in specs.into_iter().enumerate() {
                let config = spec.into_config();
                let name = config.name.clone().unwrap_or_else(|| match group.as_str() {
                    READ_GROUP if self.primary_connection_string.is_some() => {
                        format!("replica-{}", i + 1)
                    }
                    _ => format!("{group}-{}", i + 1),
                });
                check_engine(&name, &config)?;
                if !seen.insert(name.clone()) {
                    return Err(ConfigError::DuplicateEngine { name }.into());
                }
                let pool = config
                    .pool
                    .or(group_pool)
                    .or(self.pool)
                    .or(PoolConfig::defaults());
                pool.validate(&format!("engine {name:?}"))?;
                engines.push(EnginePlan {
                    name,
                    url: config.connection_string,
                    weight: config.weight,
                    pool,
                });
            }
            plans.push(GroupPlan {
                name: group,
                writable: false,
                engines,
            });
        }
        Ok(plans)
    }

    fn apply_group_options(&self, groups: &mut [GroupPlan], default_group: usize) -> Result<()> {
        for (name, options) in &self.groups {
            let known = groups_list(groups);
            let Some(group) = groups.iter_mut().find(|g| &g.name == name) else {
                return Err(ConfigError::OptionsForUnknownGroup {
                    group: name.clone(),
                    known,
                }
                .into());
            };
            group.writable = options.writable.unwrap_or(false);
        }
        groups[default_group].writable = true;
        Ok(())
    }
}

fn find(groups: &[GroupPlan], name: &str) -> Result<usize> {
    groups.iter().position(|g| g.name == name).ok_or_else(|| {
        ConfigError::UnknownGroup {
            name: name.to_owned(),
            known: groups_list(groups),
        }
        .into()
    })
}

/// Every writable group is one database: writes spread over several would diverge.
fn check_writers(groups: &[GroupPlan], default_group: usize) -> Result<()> {
    for (index, group) in groups.iter().enumerate() {
        if group.writable && group.engines.len() > 1 {
            let role = if index == default_group {
                "the default group"
            } else {
                "the writable group"
            };
            return Err(ConfigError::SeveralWriters {
                role,
                group: group.name.clone(),
                count: group.engines.len(),
            }
            .into());
        }
    }
    Ok(())
}

fn check_engine(name: &str, config: &ReplicaConfig) -> Result<()> {
    if name.trim().is_empty() {
        return Err(ConfigError::EmptyName { what: "an engine" }.into());
    }
    if config.weight == 0 {
        return Err(ConfigError::ZeroWeight {
            engine: name.to_owned(),
        }
        .into());
    }
    let url = &config.connection_string;
    let scheme = url.scheme().ok_or_else(|| {
        bad_url(
            name,
            url,
            "it has no scheme; write it as postgres://user@host:5432/db or sqlite://file.db",
        )
    })?;
    if BackendKind::from_scheme(scheme).is_none() {
        return Err(bad_url(
            name,
            url,
            &format!(
                "unknown scheme {scheme:?}; use postgres://, postgresql://, mysql://, mariadb:// \
                 or sqlite://"
            ),
        ));
    }
    Ok(())
}

/// The one database family of all engines (PostgreSQL for a config without any).
fn backend_of(groups: &[GroupPlan]) -> Result<BackendKind> {
    let mut found: Option<(BackendKind, &str)> = None;
    for engine in groups.iter().flat_map(|g| &g.engines) {
        // check_engine has vetted every scheme.
        let Some(kind) = engine.url.scheme().and_then(BackendKind::from_scheme) else {
            continue;
        };
        match found {
            None => found = Some((kind, &engine.name)),
            Some((first, first_name)) if first != kind => {
                return Err(ConfigError::MixedBackends {
                    first: first_name.to_owned(),
                    first_kind: first.name(),
                    other: engine.name.clone(),
                    other_kind: kind.name(),
                }
                .into());
            }
            Some(_) => {}
        }
    }
    Ok(found.map_or(BackendKind::Postgres, |(kind, _)| kind))
}

/// Every URL parses as its driver will parse it; in-memory SQLite stays alone.
fn check_urls(groups: &[GroupPlan], backend: BackendKind) -> Result<()> {
    let engines: Vec<&EnginePlan> = groups.iter().flat_map(|g| &g.engines).collect();
    for engine in &engines {
        backend
            .check_url(&engine.url)
            .map_err(|reason| bad_url(&engine.name, &engine.url, &reason))?;
        if engines.len() > 1 && backend.is_in_memory(&engine.url) {
            return Err(ConfigError::SharedInMemory {
                engine: engine.name.clone(),
            }
            .into());
        }
    }
    Ok(())
}

fn bad_url(engine: &str, url: &super::ConnectionString, reason: &str) -> crate::Error {
    ConfigError::ConnectionString {
        engine: engine.to_owned(),
        url: url.redacted(),
        reason: url.scrub(reason),
    }
    .into()
}

fn groups_list(groups: &[GroupPlan]) -> String {
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.join(", ")
}
