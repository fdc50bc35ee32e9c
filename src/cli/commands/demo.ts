import type { Command } from 'commander';
import type { WithCtx } from '../main.ts';

export function registerDemo(_program: Command, _withCtx: WithCtx): void {}
