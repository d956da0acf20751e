import type * as pulumi from "@pulumi/pulumi";
import type { NamingContext } from "../naming";

/** What every component of the landing takes: where it goes, how it is named and tagged. */
export interface LandingArgs {
  resourceGroupName: pulumi.Input<string>;
  location: string;
  naming: NamingContext;
  tags: Record<string, string>;
}
