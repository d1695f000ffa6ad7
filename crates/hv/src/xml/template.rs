//! Domain templates for reinstall: checked when the config is loaded, rendered when a VM is
//! reinstalled. A template is a libvirt domain XML; its first `<disk device='disk'>` is the
//! system disk a reinstall makes anew and must name its volume by pool
//! (`<disk type='volume'><source pool='vms' volume='web1.qcow2'/>`), so that it works through
//! libvirt's storage API on any host. Rendering keeps what identifies the VM: its name, and the
//! UUID and MAC addresses of its last known definition (the inventory), interface by interface.
//! The seed CD-ROM is added when there is one.

use roxmltree::{Document, Node};

/// What a valid template says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The system disk's pool and volume.
    pub disk_pool: String,
    pub disk_volume: String,
}

fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.has_tag_name(tag))
}

fn parse(xml: &str) -> Result<Document<'_>, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not valid XML: {e}"))?;
    if !doc.root_element().has_tag_name("domain") {
        return Err(format!("the root element is <{}>, not <domain>", doc.root_element().tag_name().name()));
    }
    Ok(doc)
}

/// Check a template for the VM `vm`: a domain XML, naming that VM (or no name), whose first
/// disk is a pool volume.
pub fn check(xml: &str, vm: &str) -> Result<TemplateInfo, String> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if let Some(n) = child(root, "name") {
        let name = n.text().unwrap_or("").trim();
        if name != vm {
            return Err(format!("it names the domain {name:?}, not {vm:?} (leave <name> out or make it {vm})"));
        }
    }
    let devices = child(root, "devices").ok_or("it has no <devices>")?;
    let disk = devices
        .children()
        .find(|d| d.is_element() && d.has_tag_name("disk") && d.attribute("device").unwrap_or("disk") == "disk")
        .ok_or("it has no <disk device='disk'>: the system disk a reinstall makes anew")?;
    let source = child(disk, "source");
    let pool = source.and_then(|s| s.attribute("pool"));
    let volume = source.and_then(|s| s.attribute("volume"));
    match (disk.attribute("type"), pool, volume) {
        (Some("volume"), Some(p), Some(v)) if !p.is_empty() && !v.is_empty() => {
            Ok(TemplateInfo { disk_pool: p.to_string(), disk_volume: v.to_string() })
        }
        _ => Err(
            "its first disk must be <disk type='volume' device='disk'> with <source pool='POOL' volume='VOLUME'/>: \
             the volume a reinstall makes anew from the golden image"
                .into(),
        ),
    }
}

/// Where a seed CD-ROM goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedDisk {
    pub pool: String,
    pub volume: String,
    pub bus: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

/// The UUID and interface MACs of a domain XML (the inventory's), in document order.
pub fn identity(xml: &str) -> Result<(Option<String>, Vec<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("the known definition is not valid XML: {e}"))?;
    let root = doc.root_element();
    let uuid = child(root, "uuid").and_then(|u| u.text()).map(|t| t.trim().to_string());
    let macs = child(root, "devices")
        .map(|d| {
            d.children()
                .filter(|i| i.is_element() && i.has_tag_name("interface"))
                .filter_map(|i| child(i, "mac").and_then(|m| m.attribute("address")).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((uuid, macs))
}

/// Render the template for `vm`: its name, the given UUID and MACs (interface by interface;
/// extra interfaces keep the template's or get new ones from libvirt), and the seed CD-ROM.
pub fn render(
    xml: &str,
    vm: &str,
    uuid: Option<&str>,
    macs: &[String],
    seed: Option<&SeedDisk>,
) -> Result<String, String> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    // Edits as (start, end, text), applied from the end so earlier offsets stay valid.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let first = root.children().find(|c| c.is_element()).ok_or("the domain is empty")?;
    let mut head = String::new();
    match child(root, "name") {
        Some(n) => {
            let r = n.range();
            edits.push((r.start, r.end, format!("<name>{}</name>", escape(vm))));
        }
        None => head.push_str(&format!("<name>{}</name>", escape(vm))),
    }
    if let Some(u) = uuid {
        match child(root, "uuid") {
            Some(n) => {
                let r = n.range();
                edits.push((r.start, r.end, format!("<uuid>{}</uuid>", escape(u))));
            }
            None => head.push_str(&format!("<uuid>{}</uuid>", escape(u))),
        }
    }
    if !head.is_empty() {
        let at = first.range().start;
        edits.push((at, at, head));
    }
    let devices = child(root, "devices").ok_or("it has no <devices>")?;
    let interfaces = devices.children().filter(|i| i.is_element() && i.has_tag_name("interface"));
    for (iface, mac) in interfaces.zip(macs) {
        let tag = format!("<mac address='{}'/>", escape(mac));
        match child(iface, "mac") {
            Some(m) => {
                let r = m.range();
                edits.push((r.start, r.end, tag));
            }
            None => {
                let at = iface.children().find(|c| c.is_element()).map(|c| c.range().start);
                let at = at.ok_or("an <interface> of the template is empty")?;
                edits.push((at, at, tag));
            }
        }
    }
    if let Some(s) = seed {
        let dev = match s.bus.as_str() {
            "ide" => "hdd",
            _ => "sdz",
        };
        let cdrom = format!(
            "<disk type='volume' device='cdrom'><driver name='qemu' type='raw'/><source pool='{}' volume='{}'/><target dev='{dev}' bus='{}'/><readonly/></disk>",
            escape(&s.pool),
            escape(&s.volume),
            escape(&s.bus)
        );
        let end = devices.range().end;
        let close = xml[..end].rfind("</devices>").ok_or("<devices> has no closing tag")?;
        edits.push((close, close, cdrom));
    }
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = xml.to_string();
    for (start, end, text) in edits {
        out.replace_range(start..end, &text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"<domain type='qemu'>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='vms' volume='web1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:99'/><source network='default'/></interface>
  </devices>
</domain>"#;

    #[test]
    fn a_template_names_its_system_disk_by_pool_and_volume() {
        assert_eq!(check(T, "web1"), Ok(TemplateInfo { disk_pool: "vms".into(), disk_volume: "web1.qcow2".into() }));
        let named = T.replace("<memory", "<name>web2</name><memory");
        assert!(check(&named, "web1").unwrap_err().contains("names the domain \"web2\", not \"web1\""));
        let file = T.replace("type='volume' device='disk'", "type='file' device='disk'");
        assert!(check(&file, "web1").unwrap_err().contains("must be <disk type='volume'"));
        assert!(check("<domain><devices/></domain>", "a").unwrap_err().contains("no <disk device='disk'>"));
        assert!(check("<domain>", "a").unwrap_err().starts_with("not valid XML"));
        assert!(check("<network/>", "a").unwrap_err().contains("not <domain>"));
    }

    #[test]
    fn rendering_keeps_name_uuid_and_macs_and_adds_the_seed() {
        let macs = vec!["52:54:00:aa:bb:01".to_string(), "52:54:00:aa:bb:02".to_string()];
        let seed = SeedDisk { pool: "vms".into(), volume: "web1-seed.iso".into(), bus: "sata".into() };
        let out = render(T, "web1", Some("6f1c0b8e-0000-4000-8000-000000000001"), &macs, Some(&seed)).unwrap();
        let (uuid, got) = identity(&out).unwrap();
        assert_eq!(uuid.as_deref(), Some("6f1c0b8e-0000-4000-8000-000000000001"));
        assert_eq!(got, macs);
        assert!(!out.contains("52:54:00:00:00:99"), "the template's own MAC is replaced");
        let doc = Document::parse(&out).unwrap();
        assert_eq!(child(doc.root_element(), "name").and_then(|n| n.text()), Some("web1"));
        assert!(out.contains("<source pool='vms' volume='web1-seed.iso'/><target dev='sdz' bus='sata'/>"));
        assert_eq!(check(&out, "web1").unwrap().disk_volume, "web1.qcow2");
        // Without a known definition, the template's identity is left to libvirt.
        let plain = render(T, "web1", None, &[], None).unwrap();
        assert_eq!(identity(&plain).unwrap(), (None, vec!["52:54:00:00:00:99".to_string()]));
    }
}
