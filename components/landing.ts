import type * as pulumi from "@pulumi/pulumi";
import type { NamingContext } from "../naming";

/** What every component of the landing takes: where it goes, how it is named and tagged. */
export interface LandingPlacement {
  resourceGroupName: pulumi.Input<string>;
  location: string;
  naming: NamingContext;
  tags: Record<string, string>;
}

/** Just the placement of a component's args, to hand on to a child component. */
export function landingPlacementOf(args: LandingPlacement): LandingPlacement {
  const { resourceGroupName, location, naming, tags } = args;
  return { resourceGroupName, location, naming, tags };
}
