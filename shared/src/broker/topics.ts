/** The eight topics of the order lifecycle (spec: "Topics"). */
export const Topics = {
  BuyerAcknowledgements: "BUYER_ACKNOWLEDGEMENTS",
  BuyerNotify: "BUYER_NOTIFY",
  BuyerFollowUp: "BUYER_FOLLOWUP",
  RequestFailures: "REQ_failures",
  SellerAcknowledgements: "SELLER_ACKNOWLEDGEMENTS",
  SellerNotify: "SELLER_NOTIFY",
  SellerFollowUp: "SELLER_FOLLOWUP",
  ProposalFailures: "PRP_FAILURES",
} as const

export type TopicName = (typeof Topics)[keyof typeof Topics]

export const allTopicNames: ReadonlyArray<TopicName> = Object.values(Topics)
