/** The in-memory directory meets the same contract as the Redis one (see the integration test). */
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"
import { sellerDirectoryContract } from "./directoryContract.ts"

sellerDirectoryContract("memory", () => SellerDirectory.layerMemory)
