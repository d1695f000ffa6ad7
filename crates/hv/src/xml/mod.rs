//! Libvirt's XML as 3RC reads and writes it: the facts taken from a domain definition (name,
//! size, disks), a storage pool's type, a volume's format and backing store, and text made safe
//! to write into XML. One parser (roxmltree) for all of them; pure.

pub mod template;

use roxmltree::{Document, Node};

/// What 3RC takes from a domain definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainFacts {
    /// `<name>`, if the definition has one.
    pub name: Option<String>,
    /// `<vcpu>`; zero where the definition does not say.
    pub vcpus: u32,
    /// `<memory>` in KiB (its `unit` converted); zero where the definition does not say.
    pub memory_kib: u64,
    /// The disks placement must find on a host: each `<disk device='disk'>` (or `lun`) source,
    /// as a path (`file=`, `dev=`) or as `pool/volume`. CD-ROMs and floppies are left out.
    pub disks: Vec<String>,
}

/// Read a domain definition; an error says why it is not one.
pub fn domain(xml: &str) -> Result<DomainFacts, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("domain") {
        return Err(format!("<{}> is not a <domain>", root.tag_name().name()));
    }
    let child = |tag: &str| root.children().find(|n| n.has_tag_name(tag));
    let text = |n: Node| n.text().map(str::trim).unwrap_or("").to_string();
    let mut facts = DomainFacts {
        name: child("name").map(text),
        vcpus: child("vcpu").and_then(|n| text(n).parse().ok()).unwrap_or(0),
        memory_kib: child("memory")
            .and_then(|n| Some(to_kib(text(n).parse().ok()?, n.attribute("unit").unwrap_or("KiB"))))
            .unwrap_or(0),
        disks: Vec::new(),
    };
    let disks = root.children().filter(|n| n.has_tag_name("devices")).flat_map(|d| d.children());
    for disk in disks.filter(|n| n.has_tag_name("disk")) {
        if !matches!(disk.attribute("device").unwrap_or("disk"), "disk" | "lun") {
            continue;
        }
        let Some(source) = disk.children().find(|n| n.has_tag_name("source")) else { continue };
        if let Some(path) = source.attribute("file").or_else(|| source.attribute("dev")) {
            facts.disks.push(path.to_string());
        } else if let (Some(pool), Some(volume)) = (source.attribute("pool"), source.attribute("volume")) {
            facts.disks.push(format!("{pool}/{volume}"));
        }
    }
    Ok(facts)
}

/// libvirt's memory units, as KiB.
fn to_kib(n: u64, unit: &str) -> u64 {
    match unit {
        "b" | "bytes" => n / 1024,
        "KB" => n * 1000 / 1024,
        "k" | "KiB" => n,
        "MB" => n * 1_000_000 / 1024,
        "M" | "MiB" => n * 1024,
        "GB" => n * 1_000_000_000 / 1024,
        "G" | "GiB" => n * 1024 * 1024,
        "T" | "TiB" => n * 1024 * 1024 * 1024,
        _ => n,
    }
}

/// vCPUs and memory (KiB) declared by a domain XML, for VMs known only from the inventory
/// (their host is gone). Zero where the XML does not say (or is not a domain).
pub fn size_from_xml(xml: &str) -> (u32, u64) {
    domain(xml).map(|d| (d.vcpus, d.memory_kib)).unwrap_or((0, 0))
}

/// The disks of a domain XML that placement must find on a host (`DomainFacts::disks`).
pub fn disks_from_xml(xml: &str) -> Vec<String> {
    domain(xml).map(|d| d.disks).unwrap_or_default()
}

/// A storage pool's type (`<pool type='dir'>`: `dir`, `logical`, `netfs`, ...).
pub fn pool_type(xml: &str) -> Option<String> {
    let doc = Document::parse(xml).ok()?;
    let root = doc.root_element();
    root.has_tag_name("pool").then(|| root.attribute("type").map(str::to_string)).flatten()
}

/// A volume's format (`<target><format type='qcow2'/>`) and the path of its backing store
/// (`<backingStore><path>`), where it says.
pub fn volume_format_and_backing(xml: &str) -> (Option<String>, Option<String>) {
    let Ok(doc) = Document::parse(xml) else { return (None, None) };
    let root = doc.root_element();
    let within = |tag: &str| root.children().find(|n| n.has_tag_name(tag));
    let format = within("target")
        .and_then(|t| t.children().find(|n| n.has_tag_name("format")))
        .and_then(|f| f.attribute("type"))
        .map(str::to_string);
    let backing = within("backingStore")
        .and_then(|b| b.children().find(|n| n.has_tag_name("path")))
        .and_then(|p| p.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    (format, backing)
}

/// Whether a host's capabilities XML offers KVM (`<domain type='kvm'>` under a guest).
pub fn offers_kvm(capabilities: &str) -> bool {
    match Document::parse(capabilities) {
        Ok(doc) => doc.descendants().any(|n| n.has_tag_name("domain") && n.attribute("type") == Some("kvm")),
        Err(_) => false,
    }
}

/// Text made safe for an XML attribute or element (domain and volume XML written by 3RC).
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_from_domain_xml() {
        let xml = "<domain type='kvm'><name>a</name><memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory><vcpu placement='static'>4</vcpu></domain>";
        assert_eq!(size_from_xml(xml), (4, 2097152));
        assert_eq!(size_from_xml("<domain><memory unit='GiB'>2</memory><vcpu>1</vcpu></domain>"), (1, 2097152));
        assert_eq!(size_from_xml("<domain><memory>1024</memory></domain>"), (0, 1024));
        assert_eq!(size_from_xml("not xml"), (0, 0));
        assert_eq!(size_from_xml("<pool><memory>1024</memory></pool>"), (0, 0));
    }

    #[test]
    fn disks_are_read_from_domain_xml() {
        let xml = r#"<domain><devices>
          <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/nfs/web1.qcow2'/><target dev='vda'/></disk>
          <disk type="volume" device="disk"><source pool="san" volume="web1-data"/><target dev="vdb"/></disk>
          <disk type='file' device='cdrom'><source file='/iso/debian.iso'/></disk>
          <disk type='block' device='disk'><source dev='/dev/mapper/lun7'/></disk>
          <disk type='block' device='lun'><source dev='/dev/sdc'/></disk>
        </devices></domain>"#;
        assert_eq!(disks_from_xml(xml), vec!["/nfs/web1.qcow2", "san/web1-data", "/dev/mapper/lun7", "/dev/sdc"]);
        assert!(disks_from_xml("<domain/>").is_empty());
    }

    #[test]
    fn a_domain_says_its_name_and_what_is_not_one_is_an_error() {
        let d = domain("<domain type='kvm'><name> web1 </name><vcpu>2</vcpu><memory unit='MiB'>512</memory></domain>");
        assert_eq!(d.unwrap(), DomainFacts { name: Some("web1".into()), vcpus: 2, memory_kib: 524288, disks: vec![] });
        assert!(domain("<domain><name>a</name>").unwrap_err().starts_with("not XML"), "unclosed");
        assert_eq!(domain("<network/>").unwrap_err(), "<network> is not a <domain>");
        // Escaped text comes back as written.
        let name = "a&b<'\"";
        let d = domain(&format!("<domain><name>{}</name></domain>", xml_escape(name))).unwrap();
        assert_eq!(d.name.as_deref(), Some(name));
    }

    #[test]
    fn pools_volumes_and_capabilities() {
        assert_eq!(pool_type("<pool type='logical'><name>vg</name></pool>").as_deref(), Some("logical"));
        assert_eq!(pool_type("<pool type=\"dir\"/>").as_deref(), Some("dir"));
        assert_eq!(pool_type("<volume type='file'/>"), None);
        let vol = "<volume type='file'><name>a.qcow2</name><target><path>/p/a.qcow2</path><format type='qcow2'/></target><backingStore><path>/p/golden.qcow2</path><format type='qcow2'/></backingStore></volume>";
        assert_eq!(volume_format_and_backing(vol), (Some("qcow2".into()), Some("/p/golden.qcow2".into())));
        let plain = "<volume><target><format type='raw'/></target><backingStore/></volume>";
        assert_eq!(volume_format_and_backing(plain), (Some("raw".into()), None));
        assert!(offers_kvm("<capabilities><guest><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest></capabilities>"));
        assert!(!offers_kvm(
            "<capabilities><guest><arch name='x86_64'><domain type='qemu'/></arch></guest></capabilities>"
        ));
    }
}
