//! Shared harness for pydbm's side-by-side benchmarks.

use std::ffi::{c_void, CStr};

/// A reference's shared library opened with `dlopen`, so a benchmark can call its C API
/// without linking against it (the bench builds where the library is missing, and says so).
/// The library stays loaded for the life of the process.
#[derive(Debug)]
pub struct SharedLibrary(*mut c_void);

impl SharedLibrary {
    /// `dlopen(name, RTLD_NOW | RTLD_LOCAL)`; `None` when the library cannot be loaded.
    pub fn open(name: &CStr) -> Option<SharedLibrary> {
        // SAFETY: `name` is NUL-terminated; dlopen has no other precondition.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!handle.is_null()).then_some(SharedLibrary(handle))
    }

    /// The symbol `name` as a value of type `T`; `None` when the library has no such symbol.
    ///
    /// # Safety
    /// `T` must be the `unsafe extern "C" fn` type of the symbol's C prototype.
    pub unsafe fn get<T: Copy>(&self, name: &CStr) -> Option<T> {
        assert_eq!(
            std::mem::size_of::<T>(),
            std::mem::size_of::<*mut c_void>(),
            "a symbol is read as a function pointer"
        );
        // SAFETY: the handle came from dlopen and `name` is NUL-terminated.
        let p = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        // SAFETY: the caller promises `T` is the symbol's function pointer type, which has
        // the size of a data pointer (checked above).
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
    }
}

/// CPU time this process has used so far, in seconds (`getrusage(RUSAGE_SELF)`: all
/// threads, page faults and system calls included).
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpu {
    /// Time in user space.
    pub user: f64,
    /// Time in the kernel on the process's behalf.
    pub system: f64,
}

impl ProcessCpu {
    /// The process's CPU time now.
    pub fn now() -> ProcessCpu {
        // SAFETY: getrusage only writes the zero-initialised `rusage` we own; RUSAGE_SELF is
        // always a valid `who`.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        ProcessCpu {
            user: secs(ru.ru_utime),
            system: secs(ru.ru_stime),
        }
    }

    /// User plus system seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

/// The `datum` of the dbm C APIs (gdbm.h, and libdb's ndbm shim): a pointer and a length.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Datum {
    /// The bytes (not owned; libraries return `malloc`ed or internal buffers here).
    pub dptr: *mut std::ffi::c_char,
    /// Their length.
    pub dsize: std::ffi::c_int,
}

impl Datum {
    /// A datum borrowing `b` for the duration of one C call (the libraries copy what they
    /// keep).
    pub fn of(b: &[u8]) -> Datum {
        Datum {
            dptr: b.as_ptr() as *mut std::ffi::c_char,
            dsize: b.len() as std::ffi::c_int,
        }
    }
}
