/** Seed data for the Dataverse emulator: IOM provider, mapping groups and target rows. */
import { DataverseEmulator } from "./dataverse";

export interface Seeded {
  providerId: string;
  otherProviderId: string;
  groupId: string;
  otherGroupId: string;
  products: Map<string, string>;
}

/** BigCommerce provider, the default mapping group, the guide's sample targets and `products` numbered products. */
export function seedEmulator(emu: DataverseEmulator, products = 20): Seeded {
  const providerId = emu.insert("msdyn_iomprovider", { zq1_providerlabel: "BigCommerce" });
  const otherProviderId = emu.insert("msdyn_iomprovider", { zq1_providerlabel: "Shopify" });
  const groupId = emu.insert("zq1_mapgroup", { zq1_grpname: "Default Mapping Group" });
  const otherGroupId = emu.insert("zq1_mapgroup", { zq1_grpname: "Wholesale" });
  emu.insert("account", { name: "BigCommerce Test Account", accountnumber: "BC-0001" });
  emu.insert("account", { name: "Contoso Retail", accountnumber: "C-1001" });
  emu.insert("pricelevel", { name: "Master Price List" });
  emu.insert("pricelevel", { name: "Wholesale Price List" });
  emu.insert("uom", { name: "ea" });
  emu.insert("uom", { name: "box" });
  emu.insert("uomschedule", { name: "Default Unit" });
  emu.insert("transactioncurrency", { currencyname: "US Dollar", isocurrencycode: "USD" });
  emu.insert("transactioncurrency", { currencyname: "Euro", isocurrencycode: "EUR" });
  emu.insert("msdyn_warehouse", { msdyn_name: "Seattle" });
  emu.insert("msdyn_warehouse", { msdyn_name: "Chicago" });
  const map = new Map<string, string>();
  map.set("Accu Scale", emu.insert("product", { name: "Accu Scale", productnumber: "ABS-0001" }));
  for (let i = 1; i <= products; i++) {
    const n = `P-${String(i).padStart(6, "0")}`;
    map.set(n, emu.insert("product", { name: `Product ${i}`, productnumber: n }));
  }
  return { providerId, otherProviderId, groupId, otherGroupId, products: map };
}
