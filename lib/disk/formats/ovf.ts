/**
 * The OVF descriptor of a VMware OVA: one virtual machine with one streamOptimized disk on an LSI
 * Logic SCSI controller, a vmxnet3 network adapter, the guest OS type and virtual hardware version
 * of fedora-coreos-config's image-base.yaml, and the `guestinfo.ignition.config.data[.encoding]`
 * properties Ignition's VMware provider reads.
 */

/** What {@link renderOvf} needs. */
export interface OvfOptions {
  /** Name of the virtual machine and of the product. */
  readonly name: string;
  /** Product version. */
  readonly version: string;
  /** File name of the VMDK in the OVA. */
  readonly diskFile: string;
  /** Size of the VMDK file in bytes. */
  readonly diskFileSize: number;
  /** Capacity of the virtual disk in bytes. */
  readonly capacity: number;
  /** VMware guest OS type (`fedora64Guest`). */
  readonly osType: string;
  /** VMware virtual hardware version (17 gives `vmx-17`). */
  readonly hardwareVersion: number;
  /**
   * Virtual CPUs.
   * @default 2
   */
  readonly cpus?: number;
  /**
   * Memory in MiB.
   * @default 4096
   */
  readonly memoryMiB?: number;
}

/** `value` escaped for an XML attribute or text node. */
function xml(value: string | number): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** One virtual hardware item. */
function item(fields: Record<string, string | number>): string[] {
  return [
    '      <Item>',
    ...Object.entries(fields).map(([key, value]) => `        <rasd:${key}>${xml(value)}</rasd:${key}>`),
    '      </Item>',
  ];
}

/** An Ignition guestinfo property of the product section. */
function property(key: string, label: string): string[] {
  return [
    `      <Property ovf:key="${key}" ovf:type="string" ovf:userConfigurable="true" ovf:value="">`,
    `        <Label>${xml(label)}</Label>`,
    '      </Property>',
  ];
}

/** The OVF XML text. */
export function renderOvf(options: OvfOptions): string {
  const cpus = options.cpus ?? 2;
  const memory = options.memoryMiB ?? 4096;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"',
    '    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"',
    '    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"',
    '    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"',
    '    xmlns:vmw="http://www.vmware.com/schema/ovf">',
    '  <References>',
    `    <File ovf:id="disk-file" ovf:href="${xml(options.diskFile)}" ovf:size="${options.diskFileSize}"/>`,
    '  </References>',
    '  <DiskSection>',
    '    <Info>Virtual disks</Info>',
    `    <Disk ovf:diskId="disk" ovf:fileRef="disk-file" ovf:capacity="${options.capacity}" ovf:capacityAllocationUnits="byte"`,
    '        ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>',
    '  </DiskSection>',
    '  <NetworkSection>',
    '    <Info>Logical networks</Info>',
    '    <Network ovf:name="VM Network">',
    '      <Description>The network of the first adapter</Description>',
    '    </Network>',
    '  </NetworkSection>',
    `  <VirtualSystem ovf:id="${xml(options.name)}">`,
    '    <Info>A virtual machine</Info>',
    `    <Name>${xml(options.name)}</Name>`,
    `    <OperatingSystemSection ovf:id="101" vmw:osType="${xml(options.osType)}">`,
    '      <Info>Guest operating system</Info>',
    '    </OperatingSystemSection>',
    '    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo">',
    '      <Info>Virtual hardware</Info>',
    '      <System>',
    '        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>',
    '        <vssd:InstanceID>0</vssd:InstanceID>',
    `        <vssd:VirtualSystemIdentifier>${xml(options.name)}</vssd:VirtualSystemIdentifier>`,
    `        <vssd:VirtualSystemType>vmx-${options.hardwareVersion}</vssd:VirtualSystemType>`,
    '      </System>',
    ...item({
      AllocationUnits: 'hertz * 10^6',
      ElementName: `${cpus} virtual CPUs`,
      InstanceID: 1,
      ResourceType: 3,
      VirtualQuantity: cpus,
    }),
    ...item({
      AllocationUnits: 'byte * 2^20',
      ElementName: `${memory} MiB of memory`,
      InstanceID: 2,
      ResourceType: 4,
      VirtualQuantity: memory,
    }),
    ...item({
      Address: 0,
      ElementName: 'SCSI controller 0',
      InstanceID: 3,
      ResourceSubType: 'lsilogic',
      ResourceType: 6,
    }),
    ...item({
      AddressOnParent: 0,
      ElementName: 'Hard disk 1',
      HostResource: 'ovf:/disk/disk',
      InstanceID: 4,
      Parent: 3,
      ResourceType: 17,
    }),
    ...item({
      AddressOnParent: 7,
      AutomaticAllocation: 'true',
      Connection: 'VM Network',
      ElementName: 'Network adapter 1',
      InstanceID: 5,
      ResourceSubType: 'VmxNet3',
      ResourceType: 10,
    }),
    '    </VirtualHardwareSection>',
    '    <ProductSection>',
    '      <Info>The operating system</Info>',
    `      <Product>${xml(options.name)}</Product>`,
    `      <Version>${xml(options.version)}</Version>`,
    ...property('guestinfo.ignition.config.data', 'Ignition config data'),
    ...property(
      'guestinfo.ignition.config.data.encoding',
      'Ignition config data encoding (base64, gzip+base64 or empty)',
    ),
    '    </ProductSection>',
    '  </VirtualSystem>',
    '</Envelope>',
    '',
  ].join('\n');
}
