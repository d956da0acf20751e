/** Tests resolve stack configuration exactly as the offline plan does. */
export * from "../../plan/stack-config";
