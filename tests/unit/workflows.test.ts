/**
 * The workflows name the stacks one by one (a matrix, a job each); the stacks themselves are the
 * Pulumi.<stack>.yaml files. Every stack gets a cloud preview on pull requests and a deployment on
 * main, one after another behind its GitHub environment.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { listStacks, ROOT } from "../support/stack";

interface Job { needs?: string | string[]; uses?: string; with?: Record<string, unknown>; strategy?: { matrix?: Record<string, unknown> } }
const jobsOf = (file: string) => (parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", file), "utf8")) as { jobs: Record<string, Job> }).jobs;

test("the pull-request workflow previews every stack", () => {
  expect(new Set(jobsOf("pull-request.yml").preview.strategy?.matrix?.stack as string[])).toEqual(new Set(listStacks()));
});

test("the deploy workflow runs pulumi up for every stack, each after the checks or another stack", () => {
  const jobs = jobsOf("deploy.yml");
  const ups = Object.entries(jobs).filter(([, job]) => job.uses === "./.github/workflows/pulumi-up.yml");
  expect(new Set(ups.map(([, job]) => job.with?.stack))).toEqual(new Set(listStacks()));
  for (const [, job] of ups) expect(Object.keys(jobs)).toContain(String(job.needs));
});
