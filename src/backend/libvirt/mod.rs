//! libvirt adapter (the only module that imports `virt`).
