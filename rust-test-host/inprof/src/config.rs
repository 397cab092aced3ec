//! [`Config`]: the settings as Rust values (unset means the library's
//! default), read from the environment by the library itself
//! ([`Config::from_env`]) and turned into the C struct only inside
//! [`Config::start`], for the duration of the call.

use std::ffi::{c_char, CStr, CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use crate::error::{status_to_result, Error, ErrorKind};
use crate::profiler::{start_session, timeout_ms, Profiler, DEFAULT_STOP_TIMEOUT};
use crate::sys;

/// Values of the `upload` setting (`INPROF_UPLOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// Upload when an agent or agentless destination is configured, or when
    /// no output directory is set.
    Auto,
    On,
    Off,
}

impl Upload {
    fn to_raw(self) -> u32 {
        match self {
            Upload::Auto => sys::INPROF_UPLOAD_AUTO,
            Upload::On => sys::INPROF_UPLOAD_ON,
            Upload::Off => sys::INPROF_UPLOAD_OFF,
        }
    }

    fn from_raw(v: u32) -> Upload {
        match v {
            sys::INPROF_UPLOAD_ON => Upload::On,
            sys::INPROF_UPLOAD_OFF => Upload::Off,
            _ => Upload::Auto,
        }
    }
}

/// Configuration built from code, optionally on top of the environment.
/// Unset values mean the library's defaults; the library copies everything
/// at start.
#[derive(Clone)]
pub struct Config {
    enabled: Option<bool>,
    cpu_hz: Option<u32>,
    cpu_signal: Option<i32>,
    heap_sample_bytes: Option<u64>,
    upload_period: Option<Duration>,
    max_frames: Option<u32>,
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    tags: Option<String>,
    output_dir: Option<PathBuf>,
    agent_url: Option<String>,
    agentless: Option<bool>,
    upload: Option<Upload>,
    site: Option<String>,
    api_key: Option<String>,
    intake_url: Option<String>,
    ca_bundle: Option<PathBuf>,
    connect_timeout: Option<Duration>,
    upload_timeout: Option<Duration>,
    log_level: Option<u32>,
    inlined_frames: Option<bool>,
    timeline_enabled: Option<bool>,
    wall_hz: Option<u32>,
    wall_threads_per_tick: Option<u32>,
    symbolizer_max_mb: Option<u32>,
    debug_dirs: Option<String>,
    stop_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

/// A setting in `Debug` output: its value, or `default` when unset.
struct Setting<'a, T>(&'a Option<T>);

impl<T: fmt::Debug> fmt::Debug for Setting<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("default"),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api_key = self.api_key.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("enabled", &Setting(&self.enabled))
            .field("cpu_hz", &Setting(&self.cpu_hz))
            .field("cpu_signal", &Setting(&self.cpu_signal))
            .field("heap_sample_bytes", &Setting(&self.heap_sample_bytes))
            .field("upload_period", &Setting(&self.upload_period))
            .field("max_frames", &Setting(&self.max_frames))
            .field("service", &Setting(&self.service))
            .field("env", &Setting(&self.env))
            .field("version", &Setting(&self.version))
            .field("tags", &Setting(&self.tags))
            .field("output_dir", &Setting(&self.output_dir))
            .field("agent_url", &Setting(&self.agent_url))
            .field("agentless", &Setting(&self.agentless))
            .field("upload", &Setting(&self.upload))
            .field("site", &Setting(&self.site))
            .field("api_key", &Setting(&api_key))
            .field("intake_url", &Setting(&self.intake_url))
            .field("ca_bundle", &Setting(&self.ca_bundle))
            .field("connect_timeout", &Setting(&self.connect_timeout))
            .field("upload_timeout", &Setting(&self.upload_timeout))
            .field("log_level", &Setting(&self.log_level))
            .field("inlined_frames", &Setting(&self.inlined_frames))
            .field("timeline_enabled", &Setting(&self.timeline_enabled))
            .field("wall_hz", &Setting(&self.wall_hz))
            .field("wall_threads_per_tick", &Setting(&self.wall_threads_per_tick))
            .field("symbolizer_max_mb", &Setting(&self.symbolizer_max_mb))
            .field("debug_dirs", &Setting(&self.debug_dirs))
            .field("stop_timeout", &self.stop_timeout)
            .finish()
    }
}

/// The library's defaults as a C struct (`inprof_config_init`).
fn raw_defaults() -> sys::inprof_config {
    let mut raw = std::mem::MaybeUninit::<sys::inprof_config>::zeroed();
    // SAFETY: the pointer is valid for writes; init only fails for NULL, and
    // the zeroed struct is a valid value (NULL strings) in any case.
    let mut raw = unsafe {
        sys::inprof_config_init(raw.as_mut_ptr());
        raw.assume_init()
    };
    raw.struct_size = std::mem::size_of::<sys::inprof_config>() as u32;
    raw
}

/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn owned_string(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

/// # Safety
/// As [`owned_string`].
unsafe fn owned_path(p: *const c_char) -> Option<PathBuf> {
    (!p.is_null()).then(|| PathBuf::from(OsStr::from_bytes(CStr::from_ptr(p).to_bytes())))
}

/// One string setting in the form the C struct wants; refuses interior NULs,
/// which C would silently cut the value at.
fn c_string(name: &str, value: Option<&[u8]>) -> Result<Option<CString>, Error> {
    value
        .map(|v| {
            CString::new(v).map_err(|_| {
                Error::new(
                    ErrorKind::Invalid,
                    format!("invalid {name}={:?}: contains a NUL byte", String::from_utf8_lossy(v)),
                )
            })
        })
        .transpose()
}

fn ptr_of(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

impl Config {
    /// The library's defaults, ignoring the environment.
    pub fn new() -> Config {
        Config {
            enabled: None,
            cpu_hz: None,
            cpu_signal: None,
            heap_sample_bytes: None,
            upload_period: None,
            max_frames: None,
            service: None,
            env: None,
            version: None,
            tags: None,
            output_dir: None,
            agent_url: None,
            agentless: None,
            upload: None,
            site: None,
            api_key: None,
            intake_url: None,
            ca_bundle: None,
            connect_timeout: None,
            upload_timeout: None,
            log_level: None,
            inlined_frames: None,
            timeline_enabled: None,
            wall_hz: None,
            wall_threads_per_tick: None,
            symbolizer_max_mb: None,
            debug_dirs: None,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }

    /// The defaults with the environment applied (what [`start`](crate::start)
    /// uses), as parsed by the library. A malformed variable gives an
    /// [`ErrorKind::Invalid`] error naming it.
    pub fn from_env() -> Result<Config, Error> {
        let mut raw = raw_defaults();
        // SAFETY: raw is a complete, initialized struct.
        status_to_result(unsafe { sys::inprof_config_from_env(&mut raw) })?;
        // The library points strings into the environment: copy them now, so
        // that a later change of the environment cannot affect this Config.
        // SAFETY: each pointer is NULL or a string of the environment.
        unsafe {
            Ok(Config {
                enabled: Some(raw.enabled != 0),
                cpu_hz: Some(raw.cpu_hz),
                cpu_signal: Some(raw.cpu_signal),
                heap_sample_bytes: Some(raw.heap_sample_bytes),
                upload_period: Some(Duration::from_millis(raw.upload_period_ms.into())),
                max_frames: Some(raw.max_frames),
                service: owned_string(raw.service),
                env: owned_string(raw.env),
                version: owned_string(raw.version),
                tags: owned_string(raw.tags),
                output_dir: owned_path(raw.output_dir),
                agent_url: owned_string(raw.agent_url),
                agentless: Some(raw.agentless != 0),
                upload: Some(Upload::from_raw(raw.upload)),
                site: owned_string(raw.site),
                api_key: owned_string(raw.api_key),
                intake_url: owned_string(raw.intake_url),
                ca_bundle: owned_path(raw.ca_bundle),
                connect_timeout: Some(Duration::from_millis(raw.connect_timeout_ms.into())),
                upload_timeout: Some(Duration::from_millis(raw.upload_timeout_ms.into())),
                log_level: Some(raw.log_level),
                inlined_frames: Some(raw.inlined_frames != 0),
                timeline_enabled: Some(raw.timeline_enabled != 0),
                wall_hz: Some(raw.wall_hz),
                wall_threads_per_tick: Some(raw.wall_threads_per_tick),
                symbolizer_max_mb: Some(raw.symbolizer_max_mb),
                debug_dirs: owned_string(raw.debug_dirs),
                stop_timeout: DEFAULT_STOP_TIMEOUT,
            })
        }
    }

    /// `false`: start succeeds and does nothing (`DD_PROFILING_ENABLED`).
    pub fn enabled(mut self, on: bool) -> Config {
        self.enabled = Some(on);
        self
    }
    /// CPU samples per second of CPU time, per thread; 0 disables CPU profiling.
    pub fn cpu_hz(mut self, hz: u32) -> Config {
        self.cpu_hz = Some(hz);
        self
    }
    /// Signal used for CPU samples; 0 means SIGPROF.
    pub fn cpu_signal(mut self, signal: i32) -> Config {
        self.cpu_signal = Some(signal);
        self
    }
    /// Mean bytes between heap samples; 0 disables heap profiling.
    pub fn heap_sample_bytes(mut self, bytes: u64) -> Config {
        self.heap_sample_bytes = Some(bytes);
        self
    }
    /// Time between exported profiles (millisecond resolution).
    pub fn upload_period(mut self, period: Duration) -> Config {
        self.upload_period = Some(period);
        self
    }
    /// Deepest stack recorded, in frames (1..=`sys::INPROF_MAX_FRAMES_LIMIT`).
    pub fn max_frames(mut self, frames: u32) -> Config {
        self.max_frames = Some(frames);
        self
    }
    pub fn service(mut self, service: impl AsRef<str>) -> Config {
        self.service = Some(service.as_ref().to_owned());
        self
    }
    pub fn env(mut self, env: impl AsRef<str>) -> Config {
        self.env = Some(env.as_ref().to_owned());
        self
    }
    pub fn version(mut self, version: impl AsRef<str>) -> Config {
        self.version = Some(version.as_ref().to_owned());
        self
    }
    /// Extra tags, `"key:value,key2:value2"`; replaces earlier tags.
    pub fn tags(mut self, tags: impl AsRef<str>) -> Config {
        self.tags = Some(tags.as_ref().to_owned());
        self
    }
    /// Appends one `key:value` tag.
    pub fn tag(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Config {
        let all = self.tags.get_or_insert_with(String::new);
        if !all.is_empty() {
            all.push(',');
        }
        all.push_str(key.as_ref());
        all.push(':');
        all.push_str(value.as_ref());
        self
    }
    /// Directory for `<service>-<pid>-<seq>.pprof.gz` files.
    pub fn output_dir(mut self, dir: impl AsRef<Path>) -> Config {
        self.output_dir = Some(dir.as_ref().to_path_buf());
        self
    }
    /// Agent URL, `http://host:port` or `unix:///path`.
    pub fn agent_url(mut self, url: impl AsRef<str>) -> Config {
        self.agent_url = Some(url.as_ref().to_owned());
        self
    }
    /// Upload straight to the Datadog intake instead of the agent.
    pub fn agentless(mut self, on: bool) -> Config {
        self.agentless = Some(on);
        self
    }
    pub fn upload(mut self, upload: Upload) -> Config {
        self.upload = Some(upload);
        self
    }
    /// Datadog site for agentless uploads, e.g. `datadoghq.eu`.
    pub fn site(mut self, site: impl AsRef<str>) -> Config {
        self.site = Some(site.as_ref().to_owned());
        self
    }
    /// API key for agentless uploads. Never logged.
    pub fn api_key(mut self, key: impl AsRef<str>) -> Config {
        self.api_key = Some(key.as_ref().to_owned());
        self
    }
    /// Full intake URL overriding the one derived from the site.
    pub fn intake_url(mut self, url: impl AsRef<str>) -> Config {
        self.intake_url = Some(url.as_ref().to_owned());
        self
    }
    /// CA bundle file used to verify TLS certificates.
    pub fn ca_bundle(mut self, file: impl AsRef<Path>) -> Config {
        self.ca_bundle = Some(file.as_ref().to_path_buf());
        self
    }
    pub fn connect_timeout(mut self, t: Duration) -> Config {
        self.connect_timeout = Some(t);
        self
    }
    pub fn upload_timeout(mut self, t: Duration) -> Config {
        self.upload_timeout = Some(t);
        self
    }
    /// 0 off, 1 error, 2 warn (the default), 3 info, 4 debug (messages go to
    /// stderr; each kind of warning or error at most once a minute).
    pub fn log_level(mut self, level: u32) -> Config {
        self.log_level = Some(level);
        self
    }
    /// `false`: inlined calls are not frames of their own (`INPROF_INLINED_FRAMES`).
    pub fn inlined_frames(mut self, on: bool) -> Config {
        self.inlined_frames = Some(on);
        self
    }
    /// `false`: CPU samples are aggregated per stack instead of kept one by
    /// one with `end_timestamp_ns` for Datadog's timeline
    /// (`DD_PROFILING_TIMELINE_ENABLED`, on by default).
    pub fn timeline_enabled(mut self, on: bool) -> Config {
        self.timeline_enabled = Some(on);
        self
    }
    /// Wall-time samples per second per thread; 0 (default): no wall-time
    /// profile. Blocked threads are read without interrupting them
    /// (`INPROF_WALL_HZ`).
    pub fn wall_hz(mut self, hz: u32) -> Config {
        self.wall_hz = Some(hz);
        self
    }
    /// Most threads the wall sampler visits per tick, round robin
    /// (`INPROF_WALL_THREADS_PER_TICK`, default 16).
    pub fn wall_threads_per_tick(mut self, n: u32) -> Config {
        self.wall_threads_per_tick = Some(n);
        self
    }
    /// Cap on the symbolizer's memory in MiB; 0: none (`INPROF_SYMBOLIZER_MAX_MB`).
    pub fn symbolizer_max_mb(mut self, mb: u32) -> Config {
        self.symbolizer_max_mb = Some(mb);
        self
    }
    /// Colon-separated directories of separate debug files (`INPROF_DEBUG_DIRS`).
    pub fn debug_dirs(mut self, dirs: impl AsRef<str>) -> Config {
        self.debug_dirs = Some(dirs.as_ref().to_owned());
        self
    }
    /// How long dropping the last [`Profiler`] waits for the final export.
    pub fn stop_timeout(mut self, t: Duration) -> Config {
        self.stop_timeout = t;
        self
    }

    /// Starts profiling with this configuration. While another [`Profiler`]
    /// is alive this returns a handle on that session and the configuration
    /// is not applied (see [the crate documentation](crate#sessions)).
    pub fn start(self) -> Result<Profiler, Error> {
        let s = |name, v: &Option<String>| c_string(name, v.as_deref().map(str::as_bytes));
        let p = |name, v: &Option<PathBuf>| c_string(name, v.as_deref().map(|p| p.as_os_str().as_bytes()));
        // Owned here until inprof_start has copied them.
        let service = s("service", &self.service)?;
        let env = s("env", &self.env)?;
        let version = s("version", &self.version)?;
        let tags = s("tags", &self.tags)?;
        let output_dir = p("output_dir", &self.output_dir)?;
        let agent_url = s("agent_url", &self.agent_url)?;
        let site = s("site", &self.site)?;
        let api_key = s("api_key", &self.api_key)?;
        let intake_url = s("intake_url", &self.intake_url)?;
        let ca_bundle = p("ca_bundle", &self.ca_bundle)?;
        let debug_dirs = s("debug_dirs", &self.debug_dirs)?;

        let mut raw = raw_defaults();
        let set = |field: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut raw.enabled, self.enabled.map(u32::from));
        set(&mut raw.cpu_hz, self.cpu_hz);
        set(&mut raw.upload_period_ms, self.upload_period.map(timeout_ms));
        set(&mut raw.max_frames, self.max_frames);
        set(&mut raw.agentless, self.agentless.map(u32::from));
        set(&mut raw.upload, self.upload.map(Upload::to_raw));
        set(&mut raw.connect_timeout_ms, self.connect_timeout.map(timeout_ms));
        set(&mut raw.upload_timeout_ms, self.upload_timeout.map(timeout_ms));
        set(&mut raw.log_level, self.log_level);
        set(&mut raw.inlined_frames, self.inlined_frames.map(u32::from));
        set(&mut raw.timeline_enabled, self.timeline_enabled.map(u32::from));
        set(&mut raw.wall_hz, self.wall_hz);
        set(&mut raw.wall_threads_per_tick, self.wall_threads_per_tick);
        set(&mut raw.symbolizer_max_mb, self.symbolizer_max_mb);
        if let Some(sig) = self.cpu_signal {
            raw.cpu_signal = sig;
        }
        if let Some(bytes) = self.heap_sample_bytes {
            raw.heap_sample_bytes = bytes;
        }
        raw.service = ptr_of(&service);
        raw.env = ptr_of(&env);
        raw.version = ptr_of(&version);
        raw.tags = ptr_of(&tags);
        raw.output_dir = ptr_of(&output_dir);
        raw.agent_url = ptr_of(&agent_url);
        raw.site = ptr_of(&site);
        raw.api_key = ptr_of(&api_key);
        raw.intake_url = ptr_of(&intake_url);
        raw.ca_bundle = ptr_of(&ca_bundle);
        raw.debug_dirs = ptr_of(&debug_dirs);
        start_session(Some(&raw), self.stop_timeout)
    }
}
