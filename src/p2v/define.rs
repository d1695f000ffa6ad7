//! The domain XML of a converted machine: its vCPUs and memory, its disks as volumes of the
//! target pool (libvirt resolves `pool/volume`, whatever the pool's kind), its NICs with the
//! physical MACs on the target network, the domain type the host offers (`kvm`, else `qemu`),
//! and a serial console written to a file on the host.
//!
//! Devices are the ones a physical machine's OS has drivers for (SATA disks, e1000 NICs) unless
//! the plan asks for virtio: a P2V does not inject drivers into the guest.

use super::plan::{Network, Plan};

use crate::hv::xml::xml_escape as esc;

pub fn domain_xml(plan: &Plan) -> String {
    let mut x = String::new();
    x.push_str(&format!("<domain type='{}'>\n", esc(&plan.domain_type)));
    x.push_str(&format!("  <name>{}</name>\n", esc(&plan.name)));
    x.push_str(&format!("  <description>converted by 3rc p2v from {}</description>\n", esc(&plan.source.describe())));
    x.push_str(&format!("  <memory unit='KiB'>{}</memory>\n", plan.memory_kib));
    x.push_str(&format!("  <vcpu>{}</vcpu>\n", plan.vcpus));
    x.push_str("  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n");
    x.push_str("  <features><acpi/><apic/></features>\n");
    x.push_str("  <on_crash>destroy</on_crash>\n");
    x.push_str("  <devices>\n");
    let (bus, prefix) = if plan.virtio { ("virtio", "vd") } else { ("sata", "sd") };
    for (i, d) in plan.disks.iter().enumerate() {
        let letter = char::from(b'a' + u8::try_from(i % 26).unwrap_or(0));
        x.push_str("    <disk type='volume' device='disk'>\n");
        x.push_str(&format!("      <driver name='qemu' type='{}'/>\n", plan.format.as_str()));
        x.push_str(&format!("      <source pool='{}' volume='{}'/>\n", esc(&plan.pool), esc(&d.volume)));
        x.push_str(&format!("      <target dev='{prefix}{letter}' bus='{bus}'/>\n"));
        if let Some(serial) = &d.disk.serial {
            x.push_str(&format!("      <serial>{}</serial>\n", esc(serial)));
        }
        x.push_str("    </disk>\n");
    }
    let model = if plan.virtio { "virtio" } else { "e1000" };
    for n in &plan.nics {
        match &n.network {
            Network::Libvirt(net) => {
                x.push_str("    <interface type='network'>\n");
                x.push_str(&format!("      <source network='{}'/>\n", esc(net)));
            }
            Network::Bridge(br) => {
                x.push_str("    <interface type='bridge'>\n");
                x.push_str(&format!("      <source bridge='{}'/>\n", esc(br)));
            }
        }
        x.push_str(&format!("      <mac address='{}'/>\n", esc(&n.mac)));
        x.push_str(&format!("      <model type='{model}'/>\n"));
        x.push_str("    </interface>\n");
    }
    x.push_str(&format!("    <serial type='file'><source path='{}'/></serial>\n", esc(&plan.serial_log)));
    x.push_str("    <memballoon model='none'/>\n");
    x.push_str("  </devices>\n");
    x.push_str("</domain>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2v::plan::tests::{answers, config, facts, inventory};

    #[test]
    fn the_domain_has_the_sources_size_disks_as_pool_volumes_and_nics_with_their_macs() {
        let plan = answers().build(&inventory(), &facts(), &config()).unwrap();
        let xml = domain_xml(&plan);
        assert!(xml.starts_with("<domain type='kvm'>"), "{xml}");
        assert!(xml.contains("<vcpu>4</vcpu>") && xml.contains("<memory unit='KiB'>8388608</memory>"), "{xml}");
        assert!(xml.contains("<source pool='default' volume='srv1new-sda.qcow2'/>"), "{xml}");
        assert!(xml.contains("<target dev='sdb' bus='sata'/>") && xml.contains("<serial>SER-sdb</serial>"), "{xml}");
        assert!(xml.contains("<mac address='3c:ec:ef:00:00:01'/>") && xml.contains("<source network='lan'/>"), "{xml}");
        assert!(xml.contains("<model type='e1000'/>"), "{xml}");
        assert!(xml.contains("<serial type='file'><source path='/var/log/libvirt/qemu/srv1new-serial.log'/></serial>"));
        // The supervisor's inventory finds the disks (placement checks them against pools).
        assert_eq!(crate::hv::xml::disks_from_xml(&xml), ["default/srv1new-sda.qcow2", "default/srv1new-sdb.qcow2"]);
        let mut a = answers();
        a.virtio = true;
        let xml = domain_xml(&a.build(&inventory(), &facts(), &config()).unwrap());
        assert!(xml.contains("<target dev='vda' bus='virtio'/>") && xml.contains("<model type='virtio'/>"), "{xml}");
    }
}
