// The catalogue of merge methods: one module per method under methods/, listed here once.
import type { MethodInfo } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { MergeMethod } from './types'
import simpleAverage from './methods/simple_average'
import weightedAverage from './methods/weighted_average'
import taskArithmetic from './methods/task_arithmetic'
import tiesMerging from './methods/ties_merging'
import dareTaskArithmetic from './methods/dare_task_arithmetic'
import dareTiesMerging from './methods/dare_ties_merging'
import dareSimpleAverage from './methods/dare_simple_average'
import tsvm from './methods/tsvm'
import isoC from './methods/iso_c'
import isoCts from './methods/iso_cts'
import modelStock from './methods/model_stock'
import slerp from './methods/slerp'
import nuslerp from './methods/nuslerp'
import breadcrumbs from './methods/breadcrumbs'
import della from './methods/della'
import consensusTa from './methods/consensus_ta'
import tallMaskTaskArithmetic from './methods/tall_mask_task_arithmetic'
import pcb from './methods/pcb'
import emrMerging from './methods/emr_merging'
import awd from './methods/awd'
import dogeTa from './methods/doge_ta'
import wudi from './methods/wudi'
import knots from './methods/knots'
import lotMerging from './methods/lot_merging'
import regmean from './methods/regmean'
import regmeanPlusplus from './methods/regmean_plusplus'
import fisherMerging from './methods/fisher_merging'
import catMerging from './methods/cat_merging'
import tatr from './methods/tatr'
import taskWiseAdamerging from './methods/task_wise_adamerging'
import layerWiseAdamerging from './methods/layer_wise_adamerging'
import layerWiseAdamergingDogeTa from './methods/layer_wise_adamerging_doge_ta'

const METHODS: MergeMethod<any>[] = [
  simpleAverage, weightedAverage, taskArithmetic, tiesMerging,
  dareTaskArithmetic, dareTiesMerging, dareSimpleAverage,
  tsvm, isoC, isoCts,
  modelStock, slerp, nuslerp, breadcrumbs, della, consensusTa, tallMaskTaskArithmetic, pcb, emrMerging, awd, dogeTa, wudi, knots,
  // data-dependent (methods.md Part III): need a MergeData provider (merge/data.ts)
  lotMerging, regmean, regmeanPlusplus, taskWiseAdamerging, layerWiseAdamerging, layerWiseAdamergingDogeTa, fisherMerging, catMerging, tatr,
]

const byName = new Map(METHODS.map((m) => [m.info.name, m]))

export function listMethods(): MethodInfo[] { return METHODS.map((m) => structuredClone(m.info)) }

export function getMethod(name: string): MergeMethod {
  const m = byName.get(name)
  if (!m) throw new AmalgamError('UNKNOWN_METHOD', `unknown merge method "${name}" (known: ${[...byName.keys()].join(', ')})`)
  return m
}

export function hasMethod(name: string): boolean { return byName.has(name) }
