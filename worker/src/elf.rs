//! Just enough ELF to tell a static executable from a dynamic one.

use std::io::Read;
use std::path::Path;

/// True when `path` is a 64-bit little-endian ELF file without a `PT_INTERP` program header,
/// i.e. it needs no dynamic loader and so no libc in the image it runs in.
pub fn is_static_executable(path: &Path) -> bool {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut head));
    read.is_ok() && has_no_interpreter(&head)
}

fn has_no_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    // e_ident: magic, ELFCLASS64 (2), ELFDATA2LSB (1).
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap_or([0; 8])) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    if phentsize < 4 || phoff == 0 {
        return false;
    }
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        elf.get(at..at + 4)
            .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_and_garbage_is_not_static() {
        let me = std::env::current_exe().unwrap();
        assert!(
            !is_static_executable(&me),
            "cargo test binaries link libc dynamically"
        );
        assert!(!has_no_interpreter(b"#!/bin/sh\necho not elf\n"));
    }

    #[test]
    fn the_static_busybox_is_static() {
        let busybox = Path::new("/bin/busybox");
        if busybox.exists() {
            // Debian's busybox-static; the dynamic `busybox` package would make this false.
            let static_build = std::process::Command::new("ldd")
                .arg(busybox)
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(false);
            assert_eq!(is_static_executable(busybox), static_build);
        }
    }
}
