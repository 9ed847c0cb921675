//! The simulated hospital's fixed reference data, written by hand:
//! departments and their doctors, service places, the price list (with the
//! pinyin initials of every name), report templates and name pools.

use crate::domain::{DoctorTitle, InsuranceClass, ItemCategory, Location};

// ------------------------------------------------------------- buildings

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Building {
    Outpatient,
    Children,
    Tcm,
    MedTech,
}

impl Building {
    pub fn zh(self) -> &'static str {
        match self {
            Building::Outpatient => "门诊楼",
            Building::Children => "儿科楼",
            Building::Tcm => "中医楼",
            Building::MedTech => "医技楼",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Building::Outpatient => "Outpatient Building",
            Building::Children => "Children's Building",
            Building::Tcm => "TCM Building",
            Building::MedTech => "Medical Technology Building",
        }
    }
}

fn floor_zh(floor: i32) -> String {
    if floor < 0 {
        format!("地下{}层", -floor)
    } else {
        format!("{floor}楼")
    }
}

fn floor_en(floor: i32) -> String {
    if floor < 0 {
        format!("basement {}", -floor)
    } else {
        format!("floor {floor}")
    }
}

// ----------------------------------------------------------- departments

pub struct DocDef {
    pub name: &'static str,
    pub title: DoctorTitle,
    pub specialty_zh: &'static str,
    pub specialty_en: &'static str,
}

pub struct DeptDef {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub building: Building,
    pub floor: i32,
    pub zone: &'static str,
    pub first_room: u32,
    pub doctors: [DocDef; 3],
    /// Price codes a doctor of this department typically orders.
    pub orders: &'static [&'static str],
}

impl DeptDef {
    pub fn id(&self) -> String {
        self.code.to_string()
    }

    /// The department's clinic area.
    pub fn location(&self) -> Location {
        let b = self.building;
        Location {
            building: b.zh().to_string(),
            floor: self.floor,
            room: format!("{}区", self.zone),
            description_zh: format!(
                "{}{}{}区 {}诊区",
                b.zh(),
                floor_zh(self.floor),
                self.zone,
                self.zh
            ),
            description_en: format!(
                "{}, {}, zone {} ({} clinics)",
                b.en(),
                floor_en(self.floor),
                self.zone,
                self.en
            ),
        }
    }

    /// Doctor `i`'s consulting room.
    pub fn room(&self, i: usize) -> Location {
        let b = self.building;
        let room = self.first_room + i as u32;
        Location {
            building: b.zh().to_string(),
            floor: self.floor,
            room: room.to_string(),
            description_zh: format!(
                "{}{}{}区 {}诊室（{}）",
                b.zh(),
                floor_zh(self.floor),
                self.zone,
                room,
                self.zh
            ),
            description_en: format!(
                "{}, {}, zone {}, room {} ({})",
                b.en(),
                floor_en(self.floor),
                self.zone,
                room,
                self.en
            ),
        }
    }

    pub fn doctor_id(&self, i: usize) -> String {
        format!("DR{}{:02}", &self.code[1..], i + 1)
    }
}

const fn doc(
    name: &'static str,
    title: DoctorTitle,
    specialty_zh: &'static str,
    specialty_en: &'static str,
) -> DocDef {
    DocDef {
        name,
        title,
        specialty_zh,
        specialty_en,
    }
}

use DoctorTitle::{AssociateChief as Assoc, Attending as Att, Chief, Resident as Res};

#[rustfmt::skip]
pub static DEPARTMENTS: [DeptDef; 16] = [
    DeptDef {
        code: "D01",
        zh: "内科",
        en: "Internal Medicine",
        building: Building::Outpatient,
        floor: 2,
        zone: "A",
        first_room: 201,
        doctors: [
            doc("王建国", Chief, "高血压、糖尿病等慢性病管理", "Hypertension, diabetes and chronic disease care"),
            doc("陈丽华", Assoc, "发热、感冒、咳嗽等常见病", "Fever, colds, coughs and other common illnesses"),
            doc("刘洋", Res, "内科常见病、多发病", "Common internal medicine conditions"),
        ],
        orders: &["JY001", "JY004", "JY005", "JY007", "JC010", "YP004", "YP005", "YP016", "YP011", "YP024"],
    },
    DeptDef {
        code: "D02",
        zh: "外科",
        en: "General Surgery",
        building: Building::Outpatient,
        floor: 3,
        zone: "A",
        first_room: 301,
        doctors: [
            doc("张志强", Chief, "甲状腺、乳腺外科", "Thyroid and breast surgery"),
            doc("李明辉", Att, "疝气、阑尾炎", "Hernia and appendicitis"),
            doc("赵磊", Res, "体表肿物、外伤清创", "Superficial lumps and wound care"),
        ],
        orders: &["JY001", "JY011", "JC003", "JC022", "ZL004", "ZL005", "CL002", "YP001", "YP021", "YP004"],
    },
    DeptDef {
        code: "D03",
        zh: "儿科",
        en: "Pediatrics",
        building: Building::Children,
        floor: 1,
        zone: "A",
        first_room: 101,
        doctors: [
            doc("周文静", Chief, "小儿呼吸系统疾病", "Children's respiratory diseases"),
            doc("吴晓燕", Assoc, "小儿消化、营养", "Children's digestion and nutrition"),
            doc("孙浩然", Att, "儿童生长发育、过敏", "Child growth, development and allergies"),
        ],
        orders: &["JY001", "JY010", "JY021", "ZL003", "YP009", "YP017", "YP025", "YP026", "YP029"],
    },
    DeptDef {
        code: "D04",
        zh: "妇产科",
        en: "Obstetrics and Gynecology",
        building: Building::Outpatient,
        floor: 4,
        zone: "A",
        first_room: 401,
        doctors: [
            doc("黄秀英", Chief, "妇科肿瘤、宫颈疾病", "Gynaecological tumours and cervical disease"),
            doc("徐婷婷", Assoc, "产前检查、高危妊娠", "Antenatal care and high-risk pregnancy"),
            doc("朱雪梅", Att, "月经失调、不孕症", "Menstrual disorders and infertility"),
        ],
        orders: &["JY001", "JY002", "JY018", "JC005", "JC022", "YP035", "YP019"],
    },
    DeptDef {
        code: "D05",
        zh: "眼科",
        en: "Ophthalmology",
        building: Building::Outpatient,
        floor: 5,
        zone: "A",
        first_room: 501,
        doctors: [
            doc("胡志明", Chief, "白内障、青光眼", "Cataract and glaucoma"),
            doc("郭静", Att, "屈光不正、儿童近视", "Refractive errors and myopia in children"),
            doc("何俊杰", Res, "眼表疾病、干眼症", "Ocular surface disease and dry eye"),
        ],
        orders: &["JC017", "JC018", "YP022", "YP023"],
    },
    DeptDef {
        code: "D06",
        zh: "耳鼻喉科",
        en: "Otorhinolaryngology (ENT)",
        building: Building::Outpatient,
        floor: 5,
        zone: "B",
        first_room: 520,
        doctors: [
            doc("林国强", Chief, "慢性鼻窦炎、鼻息肉", "Chronic sinusitis and nasal polyps"),
            doc("罗敏", Assoc, "听力障碍、耳鸣", "Hearing loss and tinnitus"),
            doc("高宇航", Att, "咽喉炎、声带疾病", "Pharyngitis and vocal cord disorders"),
        ],
        orders: &["JY001", "JC019", "JC020", "YP001", "YP010", "YP038", "ZL003"],
    },
    DeptDef {
        code: "D07",
        zh: "口腔科",
        en: "Stomatology (Dental)",
        building: Building::Outpatient,
        floor: 6,
        zone: "A",
        first_room: 601,
        doctors: [
            doc("郑海涛", Chief, "口腔修复、种植牙", "Prosthodontics and dental implants"),
            doc("梁晓红", Att, "牙体牙髓病", "Endodontics and dental caries"),
            doc("谢文博", Res, "牙周病、洁牙", "Periodontics and scaling"),
        ],
        orders: &["ZL009", "ZL010", "ZL011", "YP035", "YP002", "YP001"],
    },
    DeptDef {
        code: "D08",
        zh: "皮肤科",
        en: "Dermatology",
        building: Building::Outpatient,
        floor: 6,
        zone: "B",
        first_room: 620,
        doctors: [
            doc("宋丽娟", Chief, "湿疹、银屑病", "Eczema and psoriasis"),
            doc("唐伟", Assoc, "痤疮、皮肤过敏", "Acne and skin allergies"),
            doc("许佳琪", Res, "真菌感染、荨麻疹", "Fungal infections and urticaria"),
        ],
        orders: &["ZL013", "YP010", "YP021", "YP036", "YP038"],
    },
    DeptDef {
        code: "D09",
        zh: "中医科",
        en: "Traditional Chinese Medicine",
        building: Building::Tcm,
        floor: 2,
        zone: "A",
        first_room: 201,
        doctors: [
            doc("韩德明", Chief, "中医内科、脾胃病", "TCM internal medicine, spleen and stomach disorders"),
            doc("冯淑芬", Assoc, "针灸推拿、颈肩腰腿痛", "Acupuncture and tuina for neck, shoulder and back pain"),
            doc("邓思远", Att, "中医调理、失眠", "TCM constitution care and insomnia"),
        ],
        orders: &["YP037", "ZL006", "ZL007", "ZL008", "YP027", "YP028", "YP029"],
    },
    DeptDef {
        code: "D10",
        zh: "骨科",
        en: "Orthopedics",
        building: Building::Outpatient,
        floor: 3,
        zone: "B",
        first_room: 320,
        doctors: [
            doc("曹振华", Chief, "关节置换、骨关节炎", "Joint replacement and osteoarthritis"),
            doc("彭勇", Assoc, "脊柱外科、腰椎间盘突出", "Spine surgery and lumbar disc herniation"),
            doc("曾凡", Res, "骨折、运动损伤", "Fractures and sports injuries"),
        ],
        orders: &["JC008", "JC016", "JC014", "ZL012", "CL003", "YP002", "YP020"],
    },
    DeptDef {
        code: "D11",
        zh: "心血管内科",
        en: "Cardiology",
        building: Building::Outpatient,
        floor: 2,
        zone: "B",
        first_room: 220,
        doctors: [
            doc("肖国华", Chief, "冠心病介入治疗", "Coronary heart disease and interventions"),
            doc("田春燕", Assoc, "心律失常", "Arrhythmia"),
            doc("董晨", Att, "高血压、心力衰竭", "Hypertension and heart failure"),
        ],
        orders: &["JC010", "JC011", "JC004", "JY015", "JY006", "YP006", "YP007", "YP015", "YP016", "YP033", "YP034"],
    },
    DeptDef {
        code: "D12",
        zh: "消化内科",
        en: "Gastroenterology",
        building: Building::Outpatient,
        floor: 2,
        zone: "C",
        first_room: 240,
        doctors: [
            doc("袁立新", Chief, "消化内镜诊疗", "Diagnostic and therapeutic endoscopy"),
            doc("潘玉兰", Att, "胃炎、消化性溃疡", "Gastritis and peptic ulcer"),
            doc("蒋志鹏", Res, "肠易激综合征、便秘", "Irritable bowel syndrome and constipation"),
        ],
        orders: &["JY017", "JY003", "JY004", "JC001", "JC012", "JC013", "YP008", "YP009", "YP026"],
    },
    DeptDef {
        code: "D13",
        zh: "呼吸内科",
        en: "Respiratory Medicine",
        building: Building::Outpatient,
        floor: 2,
        zone: "D",
        first_room: 260,
        doctors: [
            doc("蔡永康", Chief, "慢阻肺、哮喘", "COPD and asthma"),
            doc("余慧敏", Assoc, "肺结节、肺部感染", "Lung nodules and lung infections"),
            doc("杜鹏飞", Res, "慢性咳嗽", "Chronic cough"),
        ],
        orders: &["JY001", "JY010", "JY020", "JC006", "JC009", "JC015", "ZL003", "YP013", "YP014", "YP017", "YP012"],
    },
    DeptDef {
        code: "D14",
        zh: "神经内科",
        en: "Neurology",
        building: Building::Outpatient,
        floor: 4,
        zone: "B",
        first_room: 420,
        doctors: [
            doc("叶文华", Chief, "脑血管病、卒中", "Cerebrovascular disease and stroke"),
            doc("程晓东", Assoc, "头痛、眩晕", "Headache and vertigo"),
            doc("苏梦瑶", Att, "帕金森病、睡眠障碍", "Parkinson's disease and sleep disorders"),
        ],
        orders: &["JC007", "JC021", "JY006", "JY022", "YP016", "YP020", "YP034"],
    },
    DeptDef {
        code: "D15",
        zh: "内分泌科",
        en: "Endocrinology",
        building: Building::Outpatient,
        floor: 4,
        zone: "C",
        first_room: 440,
        doctors: [
            doc("魏红梅", Chief, "糖尿病及其并发症", "Diabetes and its complications"),
            doc("吕建平", Att, "甲状腺疾病", "Thyroid disorders"),
            doc("丁雅琴", Res, "骨质疏松、肥胖", "Osteoporosis and obesity"),
        ],
        orders: &["JY007", "JY008", "JY012", "JY014", "JC003", "JC014", "YP005", "YP032", "YP019"],
    },
    DeptDef {
        code: "D16",
        zh: "泌尿外科",
        en: "Urology",
        building: Building::Outpatient,
        floor: 3,
        zone: "C",
        first_room: 340,
        doctors: [
            doc("任光荣", Chief, "泌尿系结石", "Urinary stones"),
            doc("沈建军", Assoc, "前列腺疾病", "Prostate disease"),
            doc("姚子轩", Res, "尿路感染", "Urinary tract infections"),
        ],
        orders: &["JY002", "JY005", "JY014", "JC002", "YP014", "YP030", "CL001", "ZL001"],
    },
];

/// The registration fee of a doctor's title, in fen.
pub fn fee_fen(title: DoctorTitle) -> i64 {
    match title {
        DoctorTitle::Chief => 5000,
        DoctorTitle::AssociateChief => 3000,
        DoctorTitle::Attending => 1500,
        DoctorTitle::Resident => 1000,
    }
}

// ---------------------------------------------------------------- places

/// Where a billed item is collected or carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    Pharmacy,
    TcmPharmacy,
    BloodDraw,
    Specimen,
    Ultrasound,
    Radiology,
    Mri,
    Ecg,
    Endoscopy,
    LungFunction,
    EyeExam,
    EntExam,
    Infusion,
    Dressing,
    TcmTherapy,
    Dental,
    CastRoom,
    DermTherapy,
    /// Used where it is dispensed (materials, fees): no step of its own.
    Nowhere,
}

struct PlaceDef {
    building: Building,
    floor: i32,
    room: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
}

impl Place {
    fn def(self) -> Option<PlaceDef> {
        use Building::*;
        let p = |building, floor, room, name_zh, name_en| {
            Some(PlaceDef {
                building,
                floor,
                room,
                name_zh,
                name_en,
            })
        };
        match self {
            Place::Pharmacy => p(Outpatient, 1, "西药房", "西药房", "Western Pharmacy"),
            Place::TcmPharmacy => p(Tcm, 1, "中药房", "中药房", "TCM Pharmacy"),
            Place::BloodDraw => p(MedTech, 1, "101", "检验科采血室", "Blood collection room"),
            Place::Specimen => p(
                MedTech,
                1,
                "103",
                "检验科标本接收处",
                "Specimen reception desk",
            ),
            Place::Ultrasound => p(MedTech, 2, "205", "超声科B超室", "Ultrasound room"),
            Place::Radiology => p(
                MedTech,
                -1,
                "B105",
                "放射科CT/DR室",
                "Radiology (CT and X-ray)",
            ),
            Place::Mri => p(MedTech, -1, "B110", "放射科MRI室", "MRI room"),
            Place::Ecg => p(Outpatient, 2, "230", "心电图室", "ECG room"),
            Place::Endoscopy => p(MedTech, 3, "301", "内镜中心", "Endoscopy centre"),
            Place::LungFunction => p(Outpatient, 2, "265", "肺功能室", "Pulmonary function room"),
            Place::EyeExam => p(Outpatient, 5, "510", "眼科检查室", "Eye examination room"),
            Place::EntExam => p(
                Outpatient,
                5,
                "528",
                "耳鼻喉科检查室",
                "ENT examination room",
            ),
            Place::Infusion => p(
                Outpatient,
                1,
                "120",
                "注射输液室",
                "Injection and infusion room",
            ),
            Place::Dressing => p(Outpatient, 3, "315", "外科换药室", "Surgical dressing room"),
            Place::TcmTherapy => p(
                Tcm,
                3,
                "305",
                "针灸推拿治疗室",
                "Acupuncture and tuina room",
            ),
            Place::Dental => p(Outpatient, 6, "610", "口腔治疗室", "Dental treatment room"),
            Place::CastRoom => p(Outpatient, 3, "325", "骨科石膏室", "Orthopaedic cast room"),
            Place::DermTherapy => p(
                Outpatient,
                6,
                "625",
                "皮肤科治疗室",
                "Dermatology treatment room",
            ),
            Place::Nowhere => None,
        }
    }

    /// The place as a location; pharmacies are given a window (1-6).
    pub fn location(self, window: u32) -> Option<Location> {
        let d = self.def()?;
        let b = d.building;
        let (room, zh, en) = match self {
            Place::Pharmacy | Place::TcmPharmacy => (
                format!("{}{}号窗口", d.room, window),
                format!(
                    "{}{} {}{}号窗口",
                    b.zh(),
                    floor_zh(d.floor),
                    d.name_zh,
                    window
                ),
                format!(
                    "{}, {}, {} window {}",
                    b.en(),
                    floor_en(d.floor),
                    d.name_en,
                    window
                ),
            ),
            _ => (
                d.room.to_string(),
                format!(
                    "{}{} {}（{}室）",
                    b.zh(),
                    floor_zh(d.floor),
                    d.name_zh,
                    d.room
                ),
                format!(
                    "{}, {}, {} (room {})",
                    b.en(),
                    floor_en(d.floor),
                    d.name_en,
                    d.room
                ),
            ),
        };
        Some(Location {
            building: b.zh().to_string(),
            floor: d.floor,
            room,
            description_zh: zh,
            description_en: en,
        })
    }

    /// What the patient does there (zh, en) and a general note (zh, en).
    pub fn step(self) -> ((&'static str, &'static str), (&'static str, &'static str)) {
        match self {
            Place::Pharmacy | Place::TcmPharmacy => (
                ("取药", "Collect your medicine"),
                (
                    "凭缴费凭条或就诊卡取药，请当面核对药品名称和数量",
                    "Show your receipt or card at the window and check the medicine there",
                ),
            ),
            Place::BloodDraw => (
                ("抽血化验", "Blood test"),
                (
                    "请按叫号顺序采血，采血后按压针眼5分钟",
                    "Wait for your number; press on the puncture site for 5 minutes afterwards",
                ),
            ),
            Place::Specimen => (
                ("送检标本", "Hand in your sample"),
                (
                    "标本容器在窗口领取，留样后30分钟内送检",
                    "Take a container at the desk and hand the sample in within 30 minutes",
                ),
            ),
            Place::Infusion
            | Place::Dressing
            | Place::TcmTherapy
            | Place::Dental
            | Place::CastRoom
            | Place::DermTherapy => (
                ("治疗", "Treatment"),
                (
                    "请携带缴费凭条，按护士安排治疗",
                    "Bring your receipt; the nurse will call you",
                ),
            ),
            _ => (
                ("检查", "Examination"),
                (
                    "请携带缴费凭条按预约时间到达，过号需重新排队",
                    "Bring your receipt and arrive on time; a missed number queues again",
                ),
            ),
        }
    }

    /// Exams are given a time; collections and lab samples are not.
    pub fn is_timed(self) -> bool {
        matches!(
            self,
            Place::Ultrasound
                | Place::Radiology
                | Place::Mri
                | Place::Ecg
                | Place::Endoscopy
                | Place::LungFunction
                | Place::EyeExam
                | Place::EntExam
        )
    }
}

/// Preparation an item needs (R7: precautions on the slip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prep {
    Fasting,
    FullBladder,
    RemoveMetal,
    Implant,
    Rest,
    Escort,
    Midstream,
}

impl Prep {
    pub fn text(self) -> (&'static str, &'static str) {
        match self {
            Prep::Fasting => (
                "需空腹8小时以上（可少量饮水），检查前勿剧烈运动",
                "Fast for at least 8 hours (small sips of water are fine) and avoid strenuous exercise",
            ),
            Prep::FullBladder => (
                "检查前1小时饮水500-800毫升，憋尿至膀胱充盈",
                "Drink 500-800 ml of water an hour before and keep your bladder full",
            ),
            Prep::RemoveMetal => (
                "请取下项链、发卡、手机等金属物品",
                "Remove necklaces, hair clips, phones and other metal objects",
            ),
            Prep::Implant => (
                "体内有心脏起搏器或金属植入物者请提前告知医生",
                "Tell the staff first if you have a pacemaker or a metal implant",
            ),
            Prep::Rest => (
                "检查前静坐休息5分钟，穿宽松衣物",
                "Rest for 5 minutes before and wear loose clothing",
            ),
            Prep::Escort => (
                "检查当天需家属陪同，检查后2小时内禁食",
                "Come with a companion; do not eat for 2 hours afterwards",
            ),
            Prep::Midstream => (
                "请留取晨起清洁中段尿",
                "Collect a clean midstream sample of your first morning urine",
            ),
        }
    }
}

// ------------------------------------------------------------ price list

pub struct PriceDef {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// 拼音首字母: one upper-case letter per Chinese character; Latin
    /// letters and digits in the name are kept as they are.
    pub py: &'static str,
    pub category: ItemCategory,
    pub spec: &'static str,
    pub unit: &'static str,
    pub fen: i64,
    pub class: InsuranceClass,
    pub place: Place,
    pub prep: &'static [Prep],
}

// One row of the price table: positional on purpose, so each row is one line.
#[allow(clippy::too_many_arguments)]
const fn item(
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    py: &'static str,
    category: ItemCategory,
    spec: &'static str,
    unit: &'static str,
    fen: i64,
    class: InsuranceClass,
    place: Place,
    prep: &'static [Prep],
) -> PriceDef {
    PriceDef {
        code,
        zh,
        en,
        py,
        category,
        spec,
        unit,
        fen,
        class,
        place,
        prep,
    }
}

use InsuranceClass::{A, B, C};
use ItemCategory::{Drug, Exam, Lab, Material, Registration as Reg, Treatment as Treat};
use Place::*;
use Prep::*;

#[rustfmt::skip]
pub static PRICES: &[PriceDef] = &[
    // Consultation fees.
    item("GH001", "普通门诊诊查费", "General outpatient consultation", "PTMZZCF", Reg, "次", "次", 1000, A, Nowhere, &[]),
    item("GH002", "主治医师诊查费", "Attending physician consultation", "ZZYSZCF", Reg, "次", "次", 1500, A, Nowhere, &[]),
    item("GH003", "副主任医师诊查费", "Associate chief physician consultation", "FZRYSZCF", Reg, "次", "次", 3000, B, Nowhere, &[]),
    item("GH004", "主任医师诊查费", "Chief physician consultation", "ZRYSZCF", Reg, "次", "次", 5000, B, Nowhere, &[]),
    item("GH005", "急诊诊查费", "Emergency consultation", "JZZCF", Reg, "次", "次", 2000, A, Nowhere, &[]),
    // Laboratory tests.
    item("JY001", "血常规", "Complete blood count", "XCG", Lab, "五分类", "项", 2000, A, BloodDraw, &[]),
    item("JY002", "尿常规", "Urinalysis", "NCG", Lab, "干化学+镜检", "项", 1500, A, Specimen, &[Midstream]),
    item("JY003", "大便常规", "Stool routine examination", "DBCG", Lab, "含隐血", "项", 1200, A, Specimen, &[]),
    item("JY004", "肝功能", "Liver function panel", "GGN", Lab, "8项", "项", 6000, A, BloodDraw, &[Fasting]),
    item("JY005", "肾功能", "Renal function panel", "SGN", Lab, "4项", "项", 4500, A, BloodDraw, &[Fasting]),
    item("JY006", "血脂四项", "Lipid panel (four items)", "XZSX", Lab, "4项", "项", 4000, A, BloodDraw, &[Fasting]),
    item("JY007", "空腹血糖", "Fasting blood glucose", "KFXT", Lab, "静脉血", "项", 800, A, BloodDraw, &[Fasting]),
    item("JY008", "糖化血红蛋白", "Glycated haemoglobin (HbA1c)", "THXHDB", Lab, "HPLC法", "项", 6500, B, BloodDraw, &[]),
    item("JY009", "电解质", "Electrolytes", "DJZ", Lab, "钾钠氯钙", "项", 3000, A, BloodDraw, &[]),
    item("JY010", "C反应蛋白", "C-reactive protein", "CFYDB", Lab, "超敏", "项", 3000, A, BloodDraw, &[]),
    item("JY011", "凝血功能", "Coagulation panel", "NXGN", Lab, "4项", "项", 5000, A, BloodDraw, &[]),
    item("JY012", "甲状腺功能", "Thyroid function", "JZXGN", Lab, "FT3/FT4/TSH", "项", 12000, B, BloodDraw, &[]),
    item("JY013", "乙肝两对半", "Hepatitis B serology (five markers)", "YGLDB", Lab, "定量", "项", 7500, B, BloodDraw, &[]),
    item("JY014", "尿酸", "Serum uric acid", "NS", Lab, "酶法", "项", 500, A, BloodDraw, &[Fasting]),
    item("JY015", "心肌酶谱", "Cardiac enzymes", "XJMP", Lab, "5项", "项", 8000, B, BloodDraw, &[]),
    item("JY016", "肿瘤标志物", "Tumour markers", "ZLBZW", Lab, "6项", "项", 18000, C, BloodDraw, &[]),
    item("JY017", "幽门螺杆菌检测", "Helicobacter pylori breath test", "YMLGJJC", Lab, "C13呼气试验", "次", 10000, B, Specimen, &[Fasting]),
    item("JY018", "血型鉴定", "Blood typing (ABO and Rh)", "XXJD", Lab, "ABO+Rh", "项", 1500, A, BloodDraw, &[]),
    item("JY019", "红细胞沉降率", "Erythrocyte sedimentation rate", "HXBCJL", Lab, "魏氏法", "项", 800, A, BloodDraw, &[]),
    item("JY020", "降钙素原", "Procalcitonin", "JGSY", Lab, "定量", "项", 15000, B, BloodDraw, &[]),
    item("JY021", "流感病毒抗原检测", "Influenza A/B antigen test", "LGBDKYJC", Lab, "甲乙型", "次", 4000, B, Specimen, &[]),
    item("JY022", "D-二聚体", "D-dimer", "DEJT", Lab, "定量", "项", 6000, B, BloodDraw, &[]),
    item("JY023", "生化全套", "Comprehensive metabolic panel", "SHQT", Lab, "26项", "项", 16000, A, BloodDraw, &[Fasting]),
    // Examinations.
    item("JC001", "腹部彩超", "Abdominal colour ultrasound", "FBCC", Exam, "肝胆胰脾", "次", 18000, A, Ultrasound, &[Fasting]),
    item("JC002", "泌尿系彩超", "Urinary tract ultrasound", "MNXCC", Exam, "双肾输尿管膀胱", "次", 15000, A, Ultrasound, &[FullBladder]),
    item("JC003", "甲状腺彩超", "Thyroid ultrasound", "JZXCC", Exam, "甲状腺及颈部淋巴结", "次", 12000, A, Ultrasound, &[]),
    item("JC004", "心脏彩超", "Echocardiography", "XZCC", Exam, "经胸", "次", 25000, B, Ultrasound, &[Rest]),
    item("JC005", "妇科彩超", "Gynaecological ultrasound", "FKCC", Exam, "经腹", "次", 14000, A, Ultrasound, &[FullBladder]),
    item("JC006", "胸部CT", "Chest CT", "XBCT", Exam, "平扫", "次", 26000, B, Radiology, &[RemoveMetal]),
    item("JC007", "头颅CT", "Head CT", "TLCT", Exam, "平扫", "次", 24000, B, Radiology, &[RemoveMetal]),
    item("JC008", "腰椎MRI", "Lumbar spine MRI", "YZMRI", Exam, "平扫", "次", 60000, B, Mri, &[RemoveMetal, Implant]),
    item("JC009", "胸部正位片", "Chest X-ray (PA view)", "XBZWP", Exam, "DR", "次", 8000, A, Radiology, &[RemoveMetal]),
    item("JC010", "心电图", "Electrocardiogram", "XDT", Exam, "十二导联", "次", 2500, A, Ecg, &[Rest]),
    item("JC011", "动态心电图", "24-hour Holter ECG", "DTXDT", Exam, "24小时", "次", 22000, B, Ecg, &[Rest]),
    item("JC012", "胃镜检查", "Gastroscopy", "WJJC", Exam, "普通", "次", 30000, B, Endoscopy, &[Fasting, Escort]),
    item("JC013", "肠镜检查", "Colonoscopy", "CJJC", Exam, "普通", "次", 40000, B, Endoscopy, &[Escort]),
    item("JC014", "骨密度测定", "Bone density scan (DXA)", "GMDCD", Exam, "双能X线", "次", 9000, C, Radiology, &[RemoveMetal]),
    item("JC015", "肺功能检查", "Pulmonary function test", "FGNJC", Exam, "常规通气", "次", 12000, B, LungFunction, &[Rest]),
    item("JC016", "颈椎X线片", "Cervical spine X-ray", "JZXXP", Exam, "正侧位", "次", 9000, A, Radiology, &[RemoveMetal]),
    item("JC017", "眼底照相", "Fundus photography", "YDZX", Exam, "双眼", "次", 5000, B, EyeExam, &[]),
    item("JC018", "视力检查", "Visual acuity test", "SLJC", Exam, "双眼", "次", 500, A, EyeExam, &[]),
    item("JC019", "电子鼻咽喉镜", "Electronic nasopharyngolaryngoscopy", "DZBYHJ", Exam, "电子镜", "次", 15000, B, EntExam, &[]),
    item("JC020", "纯音测听", "Pure-tone audiometry", "CYCT", Exam, "双耳", "次", 4000, B, EntExam, &[]),
    item("JC021", "颈动脉彩超", "Carotid artery ultrasound", "JDMCC", Exam, "双侧", "次", 16000, B, Ultrasound, &[]),
    item("JC022", "乳腺彩超", "Breast ultrasound", "RXCC", Exam, "双侧", "次", 13000, A, Ultrasound, &[]),
    // Treatments.
    item("ZL001", "静脉输液", "Intravenous infusion", "JMSY", Treat, "第一组", "组", 1200, A, Infusion, &[]),
    item("ZL002", "肌内注射", "Intramuscular injection", "JNZS", Treat, "次", "次", 500, A, Infusion, &[]),
    item("ZL003", "雾化吸入", "Nebulised inhalation", "WHXR", Treat, "次", "次", 1500, A, Infusion, &[]),
    item("ZL004", "清创缝合", "Debridement and suturing", "QCFH", Treat, "小", "次", 8000, A, Dressing, &[]),
    item("ZL005", "换药", "Dressing change", "HY", Treat, "中", "次", 1500, A, Dressing, &[]),
    item("ZL006", "针灸", "Acupuncture", "ZJ", Treat, "普通针刺", "次", 3000, B, TcmTherapy, &[]),
    item("ZL007", "推拿", "Tuina massage", "TN", Treat, "局部", "次", 5000, B, TcmTherapy, &[]),
    item("ZL008", "拔罐", "Cupping", "BG", Treat, "火罐", "次", 2000, B, TcmTherapy, &[]),
    item("ZL009", "洁牙", "Dental scaling", "JY", Treat, "全口", "次", 15000, C, Dental, &[]),
    item("ZL010", "根管治疗", "Root canal treatment", "GGZL", Treat, "单根管", "次", 30000, B, Dental, &[]),
    item("ZL011", "牙齿拔除", "Tooth extraction", "YCBC", Treat, "普通", "颗", 8000, A, Dental, &[]),
    item("ZL012", "石膏固定", "Plaster cast", "SGGD", Treat, "前臂", "次", 12000, A, CastRoom, &[]),
    item("ZL013", "冷冻治疗", "Cryotherapy", "LDZL", Treat, "液氮", "次", 6000, B, DermTherapy, &[]),
    // Materials.
    item("CL001", "一次性输液器", "Disposable infusion set", "YCXSYQ", Material, "带针", "套", 300, A, Nowhere, &[]),
    item("CL002", "医用纱布", "Medical gauze", "YYSB", Material, "8cm*10cm", "包", 200, A, Nowhere, &[]),
    item("CL003", "弹力绷带", "Elastic bandage", "TLBD", Material, "10cm*4.5m", "卷", 1800, B, Nowhere, &[]),
    item("CL004", "医用外科口罩", "Surgical mask", "YYWKKZ", Material, "独立包装", "只", 100, C, Nowhere, &[]),
    // Drugs.
    item("YP001", "阿莫西林胶囊", "Amoxicillin capsules", "AMXLJN", Drug, "0.25g*24粒", "盒", 1250, A, Pharmacy, &[]),
    item("YP002", "布洛芬缓释胶囊", "Ibuprofen sustained-release capsules", "BLFHSJN", Drug, "0.3g*20粒", "盒", 1580, A, Pharmacy, &[]),
    item("YP003", "头孢克肟分散片", "Cefixime dispersible tablets", "TBKWFSP", Drug, "0.1g*6片", "盒", 2860, B, Pharmacy, &[]),
    item("YP004", "对乙酰氨基酚片", "Paracetamol tablets", "DYXAJFP", Drug, "0.5g*12片", "盒", 650, A, Pharmacy, &[]),
    item("YP005", "盐酸二甲双胍片", "Metformin hydrochloride tablets", "YSEJSGP", Drug, "0.5g*48片", "盒", 1320, A, Pharmacy, &[]),
    item("YP006", "苯磺酸氨氯地平片", "Amlodipine besylate tablets", "BHSALDPP", Drug, "5mg*28片", "盒", 2450, A, Pharmacy, &[]),
    item("YP007", "阿托伐他汀钙片", "Atorvastatin calcium tablets", "ATFTTGP", Drug, "20mg*7片", "盒", 3980, B, Pharmacy, &[]),
    item("YP008", "奥美拉唑肠溶胶囊", "Omeprazole enteric-coated capsules", "AMLZCRJN", Drug, "20mg*14粒", "盒", 1860, A, Pharmacy, &[]),
    item("YP009", "蒙脱石散", "Montmorillonite powder", "MTSS", Drug, "3g*10袋", "盒", 1450, A, Pharmacy, &[]),
    item("YP010", "氯雷他定片", "Loratadine tablets", "LLTDP", Drug, "10mg*6片", "盒", 1880, B, Pharmacy, &[]),
    item("YP011", "复方甘草片", "Compound liquorice tablets", "FFGCP", Drug, "100片", "瓶", 850, A, Pharmacy, &[]),
    item("YP012", "连花清瘟胶囊", "Lianhua Qingwen capsules", "LHQWJN", Drug, "0.35g*24粒", "盒", 1480, B, Pharmacy, &[]),
    item("YP013", "头孢呋辛酯片", "Cefuroxime axetil tablets", "TBFXZP", Drug, "0.25g*12片", "盒", 3260, B, Pharmacy, &[]),
    item("YP014", "左氧氟沙星片", "Levofloxacin tablets", "ZYFSXP", Drug, "0.5g*4片", "盒", 2140, A, Pharmacy, &[]),
    item("YP015", "硝苯地平控释片", "Nifedipine controlled-release tablets", "XBDPKSP", Drug, "30mg*7片", "盒", 3150, B, Pharmacy, &[]),
    item("YP016", "阿司匹林肠溶片", "Aspirin enteric-coated tablets", "ASPLCRP", Drug, "100mg*30片", "盒", 1560, A, Pharmacy, &[]),
    item("YP017", "氨溴索口服溶液", "Ambroxol oral solution", "AXSKFRY", Drug, "100ml", "瓶", 1890, B, Pharmacy, &[]),
    item("YP018", "维生素C片", "Vitamin C tablets", "WSSCP", Drug, "100mg*100片", "瓶", 350, A, Pharmacy, &[]),
    item("YP019", "葡萄糖酸钙口服溶液", "Calcium gluconate oral solution", "PTTSGKFRY", Drug, "10ml*12支", "盒", 1650, B, Pharmacy, &[]),
    item("YP020", "甲钴胺片", "Mecobalamin tablets", "JGAP", Drug, "0.5mg*20片", "盒", 2380, B, Pharmacy, &[]),
    item("YP021", "莫匹罗星软膏", "Mupirocin ointment", "MPLXRG", Drug, "5g", "支", 1560, B, Pharmacy, &[]),
    item("YP022", "红霉素眼膏", "Erythromycin eye ointment", "HMSYG", Drug, "2g", "支", 320, A, Pharmacy, &[]),
    item("YP023", "玻璃酸钠滴眼液", "Sodium hyaluronate eye drops", "BLSNDYY", Drug, "0.1%*5ml", "支", 3680, B, Pharmacy, &[]),
    item("YP024", "复方氨酚烷胺片", "Compound paracetamol and amantadine tablets", "FFAFWAP", Drug, "12片", "盒", 980, B, Pharmacy, &[]),
    item("YP025", "小儿氨酚黄那敏颗粒", "Paediatric paracetamol, bezoar and chlorphenamine granules", "XEAFHNMKL", Drug, "6g*10袋", "盒", 1280, B, Pharmacy, &[]),
    item("YP026", "双歧杆菌三联活菌胶囊", "Bifidobacterium triple viable capsules", "SQGJSLHJJN", Drug, "210mg*24粒", "盒", 2750, B, Pharmacy, &[]),
    item("YP027", "复方丹参滴丸", "Compound Danshen dripping pills", "FFDSDW", Drug, "27mg*180丸", "瓶", 2680, A, Pharmacy, &[]),
    item("YP028", "六味地黄丸", "Liuwei Dihuang pills", "LWDHW", Drug, "200丸", "瓶", 1850, A, Pharmacy, &[]),
    item("YP029", "板蓝根颗粒", "Banlangen granules", "BLGKL", Drug, "10g*20袋", "盒", 1200, A, Pharmacy, &[]),
    item("YP030", "氯化钠注射液", "Sodium chloride injection 0.9%", "LHNZSY", Drug, "0.9%*250ml", "袋", 450, A, Pharmacy, &[]),
    item("YP031", "葡萄糖注射液", "Glucose injection 5%", "PTTZSY", Drug, "5%*250ml", "袋", 520, A, Pharmacy, &[]),
    item("YP032", "门冬胰岛素注射液", "Insulin aspart injection", "MDYDSZSY", Drug, "3ml:300U", "支", 6850, B, Pharmacy, &[]),
    item("YP033", "缬沙坦胶囊", "Valsartan capsules", "XSTJN", Drug, "80mg*7粒", "盒", 2460, B, Pharmacy, &[]),
    item("YP034", "硫酸氢氯吡格雷片", "Clopidogrel bisulfate tablets", "LSQLBGLP", Drug, "75mg*7片", "盒", 3720, B, Pharmacy, &[]),
    item("YP035", "甲硝唑片", "Metronidazole tablets", "JXZP", Drug, "0.2g*21片", "瓶", 480, A, Pharmacy, &[]),
    item("YP036", "炉甘石洗剂", "Calamine lotion", "LGSXJ", Drug, "100ml", "瓶", 650, A, Pharmacy, &[]),
    item("YP037", "中药饮片", "Chinese herbal decoction pieces", "ZYYP", Drug, "代煎", "剂", 3200, B, TcmPharmacy, &[]),
    item("YP038", "盐酸西替利嗪片", "Cetirizine hydrochloride tablets", "YSXTLQP", Drug, "10mg*12片", "盒", 1680, B, Pharmacy, &[]),
];

pub fn price(code: &str) -> Option<&'static PriceDef> {
    PRICES.iter().find(|p| p.code == code)
}

// ------------------------------------------------------- report templates

pub enum Measure {
    /// A number in hundredths (or tenths...): `low..=high` with `dec` decimals;
    /// `None` bounds are open.
    Quant {
        low: Option<i64>,
        high: Option<i64>,
        dec: u32,
    },
    /// A qualitative result.
    Qual {
        normal: &'static str,
        abnormal: &'static str,
    },
}

pub struct Analyte {
    pub code: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub measure: Measure,
}

const fn q(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: i64,
    high: i64,
    dec: u32,
) -> Analyte {
    Analyte {
        code,
        name,
        unit,
        measure: Measure::Quant {
            low: Some(low),
            high: Some(high),
            dec,
        },
    }
}

const fn below(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    high: i64,
    dec: u32,
) -> Analyte {
    Analyte {
        code,
        name,
        unit,
        measure: Measure::Quant {
            low: None,
            high: Some(high),
            dec,
        },
    }
}

const fn above(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: i64,
    dec: u32,
) -> Analyte {
    Analyte {
        code,
        name,
        unit,
        measure: Measure::Quant {
            low: Some(low),
            high: None,
            dec,
        },
    }
}

const fn ql(
    code: &'static str,
    name: &'static str,
    normal: &'static str,
    abnormal: &'static str,
) -> Analyte {
    Analyte {
        code,
        name,
        unit: "",
        measure: Measure::Qual { normal, abnormal },
    }
}

const CBC: &[Analyte] = &[
    q("WBC", "White blood cells", "x10^9/L", 35, 95, 1),
    q("NEUT%", "Neutrophils", "%", 400, 750, 1),
    q("LYMPH%", "Lymphocytes", "%", 200, 500, 1),
    q("MONO%", "Monocytes", "%", 30, 100, 1),
    q("RBC", "Red blood cells", "x10^12/L", 430, 580, 2),
    q("HGB", "Haemoglobin", "g/L", 130, 175, 0),
    q("HCT", "Haematocrit", "%", 400, 500, 1),
    q("MCV", "Mean corpuscular volume", "fL", 820, 1000, 1),
    q("PLT", "Platelets", "x10^9/L", 125, 350, 0),
];

const LIVER: &[Analyte] = &[
    q("ALT", "Alanine aminotransferase", "U/L", 9, 50, 0),
    q("AST", "Aspartate aminotransferase", "U/L", 15, 40, 0),
    q("GGT", "Gamma-glutamyl transferase", "U/L", 10, 60, 0),
    q("ALP", "Alkaline phosphatase", "U/L", 45, 125, 0),
    q("TBIL", "Total bilirubin", "umol/L", 0, 210, 1),
    q("DBIL", "Direct bilirubin", "umol/L", 0, 80, 1),
    q("TP", "Total protein", "g/L", 650, 850, 1),
    q("ALB", "Albumin", "g/L", 400, 550, 1),
];

const RENAL: &[Analyte] = &[
    q("UREA", "Urea", "mmol/L", 280, 720, 2),
    q("CREA", "Creatinine", "umol/L", 57, 111, 0),
    q("UA", "Uric acid", "umol/L", 208, 428, 0),
    above("eGFR", "Estimated GFR", "mL/min/1.73m2", 90, 0),
];

const LIPIDS: &[Analyte] = &[
    below("TC", "Total cholesterol", "mmol/L", 520, 2),
    below("TG", "Triglycerides", "mmol/L", 170, 2),
    above("HDL-C", "HDL cholesterol", "mmol/L", 104, 2),
    below("LDL-C", "LDL cholesterol", "mmol/L", 340, 2),
];

const GLUCOSE: &[Analyte] = &[q("GLU", "Fasting glucose", "mmol/L", 390, 610, 2)];

const URINE: &[Analyte] = &[
    ql("COL", "Colour", "Yellow", "Dark yellow"),
    q("pH", "pH", "", 45, 80, 1),
    q("SG", "Specific gravity", "", 1003, 1030, 3),
    ql("PRO", "Protein", "Negative", "1+"),
    ql("GLU", "Glucose", "Negative", "1+"),
    ql("KET", "Ketones", "Negative", "Trace"),
    ql("BLD", "Occult blood", "Negative", "1+"),
    ql("LEU", "Leukocyte esterase", "Negative", "2+"),
    ql("NIT", "Nitrite", "Negative", "Positive"),
];

const THYROID: &[Analyte] = &[
    q("FT3", "Free triiodothyronine", "pmol/L", 310, 680, 2),
    q("FT4", "Free thyroxine", "pmol/L", 120, 220, 1),
    q("TSH", "Thyroid stimulating hormone", "mIU/L", 27, 420, 2),
];

const HBA1C: &[Analyte] = &[q("HbA1c", "Glycated haemoglobin", "%", 40, 60, 1)];

#[rustfmt::skip]
const METABOLIC: &[Analyte] = &[
    q("ALT", "Alanine aminotransferase", "U/L", 9, 50, 0),
    q("AST", "Aspartate aminotransferase", "U/L", 15, 40, 0),
    q("GGT", "Gamma-glutamyl transferase", "U/L", 10, 60, 0),
    q("ALP", "Alkaline phosphatase", "U/L", 45, 125, 0),
    q("TBIL", "Total bilirubin", "umol/L", 0, 210, 1),
    q("DBIL", "Direct bilirubin", "umol/L", 0, 80, 1),
    q("TP", "Total protein", "g/L", 650, 850, 1),
    q("ALB", "Albumin", "g/L", 400, 550, 1),
    q("GLB", "Globulin", "g/L", 200, 400, 1),
    q("UREA", "Urea", "mmol/L", 280, 720, 2),
    q("CREA", "Creatinine", "umol/L", 57, 111, 0),
    q("UA", "Uric acid", "umol/L", 208, 428, 0),
    q("GLU", "Glucose", "mmol/L", 390, 610, 2),
    below("TC", "Total cholesterol", "mmol/L", 520, 2),
    below("TG", "Triglycerides", "mmol/L", 170, 2),
    above("HDL-C", "HDL cholesterol", "mmol/L", 104, 2),
    below("LDL-C", "LDL cholesterol", "mmol/L", 340, 2),
    q("K", "Potassium", "mmol/L", 350, 530, 2),
    q("Na", "Sodium", "mmol/L", 137, 147, 0),
    q("Cl", "Chloride", "mmol/L", 990, 1100, 1),
    q("Ca", "Calcium", "mmol/L", 211, 252, 2),
    q("P", "Phosphorus", "mmol/L", 85, 151, 2),
    q("Mg", "Magnesium", "mmol/L", 75, 102, 2),
    q("CK", "Creatine kinase", "U/L", 50, 310, 0),
    q("LDH", "Lactate dehydrogenase", "U/L", 120, 250, 0),
    q("hs-CRP", "High-sensitivity CRP", "mg/L", 0, 30, 1),
];

pub struct LabTemplate {
    pub zh: &'static str,
    pub en: &'static str,
    pub analytes: &'static [Analyte],
}

#[rustfmt::skip]
pub static LAB_REPORTS: &[LabTemplate] = &[
    LabTemplate { zh: "血常规", en: "Complete blood count", analytes: CBC },
    LabTemplate { zh: "肝功能", en: "Liver function panel", analytes: LIVER },
    LabTemplate { zh: "肾功能", en: "Renal function panel", analytes: RENAL },
    LabTemplate { zh: "血脂四项", en: "Lipid panel", analytes: LIPIDS },
    LabTemplate { zh: "空腹血糖", en: "Fasting blood glucose", analytes: GLUCOSE },
    LabTemplate { zh: "尿常规", en: "Urinalysis", analytes: URINE },
    LabTemplate { zh: "甲状腺功能", en: "Thyroid function", analytes: THYROID },
    LabTemplate { zh: "糖化血红蛋白", en: "Glycated haemoglobin", analytes: HBA1C },
    LabTemplate { zh: "生化全套", en: "Comprehensive metabolic panel", analytes: METABOLIC },
];

pub struct ExamTemplate {
    pub zh: &'static str,
    pub en: &'static str,
    pub dept_zh: &'static str,
    pub dept_en: &'static str,
    pub normal: (&'static str, &'static str),
    pub abnormal: &'static [(&'static str, &'static str)],
}

pub static EXAM_REPORTS: &[ExamTemplate] = &[
    ExamTemplate {
        zh: "胸部CT",
        en: "Chest CT",
        dept_zh: "放射科",
        dept_en: "Radiology",
        normal: (
            "Both lungs are clear with normal bronchovascular markings. No mass or consolidation. The mediastinum is central; no enlarged lymph nodes. No pleural effusion.",
            "No abnormality of the chest.",
        ),
        abnormal: &[(
            "A solid nodule of about 5 mm is seen in the posterior segment of the right upper lobe, well defined. The remaining lung fields are clear. No pleural effusion.",
            "Small nodule in the right upper lobe; follow-up CT in 12 months is advised.",
        )],
    },
    ExamTemplate {
        zh: "腹部彩超",
        en: "Abdominal ultrasound",
        dept_zh: "超声科",
        dept_en: "Ultrasound",
        normal: (
            "The liver is normal in size with homogeneous echotexture. Gallbladder wall smooth, no stones. Pancreas and spleen unremarkable.",
            "No abnormality of the liver, gallbladder, pancreas or spleen.",
        ),
        abnormal: &[(
            "The liver is normal in size with diffusely increased, fine echotexture and attenuation of the far field. Gallbladder, pancreas and spleen unremarkable.",
            "Mild fatty liver.",
        )],
    },
    ExamTemplate {
        zh: "心电图",
        en: "Electrocardiogram",
        dept_zh: "心电图室",
        dept_en: "Electrocardiography",
        normal: (
            "Sinus rhythm, heart rate 72 bpm. PR 160 ms, QRS 88 ms, QTc 410 ms. Normal axis. No ST-T changes.",
            "Normal electrocardiogram.",
        ),
        abnormal: &[(
            "Sinus rhythm, heart rate 58 bpm. PR 170 ms, QRS 92 ms, QTc 405 ms. Mild ST depression in leads V5-V6.",
            "Sinus bradycardia; mild ST-T changes, clinical correlation advised.",
        )],
    },
    ExamTemplate {
        zh: "甲状腺彩超",
        en: "Thyroid ultrasound",
        dept_zh: "超声科",
        dept_en: "Ultrasound",
        normal: (
            "Both thyroid lobes are normal in size with homogeneous echotexture. No nodules. No enlarged cervical lymph nodes.",
            "Normal thyroid.",
        ),
        abnormal: &[(
            "A 6 x 4 mm hypoechoic nodule with smooth margins is seen in the left lobe, wider than tall, without calcification.",
            "Left thyroid nodule, TI-RADS 3; follow-up ultrasound in 6-12 months.",
        )],
    },
    ExamTemplate {
        zh: "胸部正位片",
        en: "Chest X-ray",
        dept_zh: "放射科",
        dept_en: "Radiology",
        normal: (
            "Both lung fields are clear. Heart size and shape normal. Both costophrenic angles sharp.",
            "No active disease in the chest.",
        ),
        abnormal: &[(
            "Increased bronchovascular markings in both lower zones. Heart size normal. Costophrenic angles sharp.",
            "Bronchitic changes; clinical correlation advised.",
        )],
    },
];

// -------------------------------------------------------------- people

#[rustfmt::skip]
pub static SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "方",
    "邵", "毛", "俞", "应", "屠", "虞", "竺", "欧阳",
];

#[rustfmt::skip]
pub static GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "建国", "志强", "海涛", "俊杰",
    "浩然", "子轩", "宇航", "文博", "国庆", "建华", "永康", "立新", "德明", "家豪", "晨阳", "一鸣",
    "振宇", "思远", "天佑", "明轩", "国平", "卫东", "春生", "阿富", "小龙",
];

#[rustfmt::skip]
pub static GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "桂英", "婷婷", "雪梅", "欣怡", "梓涵",
    "诗涵", "晓燕", "丽华", "玉兰", "美玲", "淑芬", "佳琪", "雨桐", "梦瑶", "春燕", "海燕", "红梅",
    "素珍", "彩凤", "慧敏", "可欣", "一诺", "思琪", "亚萍", "月娥", "小梅",
];

/// Region codes (GB/T 2260) of the patients' ID numbers, Ningbo first.
pub static REGIONS: &[&str] = &[
    "330203", "330205", "330206", "330211", "330212", "330213", "330225", "330226", "330281",
    "330282", "330203", "330212", "330102", "310104", "320583", "340104", "360102", "410105",
    "430102", "510107",
];

pub static PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "191", "198", "199",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_han(c: char) -> bool {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
    }

    #[test]
    fn pinyin_initials_follow_the_name() {
        assert!(PRICES.len() >= 80, "{} prices", PRICES.len());
        for p in PRICES {
            let mut expected = p.py.chars();
            for c in p.zh.chars() {
                if is_han(c) {
                    let i = expected
                        .next()
                        .unwrap_or_else(|| panic!("{}: too short", p.zh));
                    assert!(i.is_ascii_uppercase(), "{}: {i}", p.zh);
                } else if c.is_ascii_alphanumeric() {
                    assert_eq!(expected.next(), Some(c.to_ascii_uppercase()), "{}", p.zh);
                }
            }
            assert_eq!(expected.next(), None, "{}: too long", p.zh);
        }
        // Spot checks against the dictionary.
        let py = |zh: &str| PRICES.iter().find(|p| p.zh == zh).unwrap().py;
        assert_eq!(py("血常规"), "XCG");
        assert_eq!(py("阿莫西林胶囊"), "AMXLJN");
        assert_eq!(py("胸部CT"), "XBCT");
        assert_eq!(py("红细胞沉降率"), "HXBCJL");
        assert_eq!(py("弹力绷带"), "TLBD");
        assert_eq!(py("复方丹参滴丸"), "FFDSDW");
    }

    #[test]
    fn reference_data_is_consistent() {
        let codes: HashSet<&str> = PRICES.iter().map(|p| p.code).collect();
        assert_eq!(codes.len(), PRICES.len(), "unique price codes");
        let mut doctors = HashSet::new();
        for d in &DEPARTMENTS {
            for c in d.orders {
                assert!(codes.contains(c), "{} orders unknown {c}", d.zh);
            }
            for (i, doc) in d.doctors.iter().enumerate() {
                assert!(doctors.insert(doc.name), "doctor {} twice", doc.name);
                assert!(doctors.len() < 100);
                assert_eq!(d.doctor_id(i).len(), 6);
            }
        }
        for t in LAB_REPORTS {
            assert!(
                PRICES.iter().any(|p| p.zh == t.zh),
                "{} is not priced",
                t.zh
            );
        }
        for t in EXAM_REPORTS {
            assert!(
                PRICES.iter().any(|p| p.zh == t.zh),
                "{} is not priced",
                t.zh
            );
        }
        for r in REGIONS {
            assert_eq!(r.len(), 6);
        }
        assert!(Place::Pharmacy
            .location(3)
            .unwrap()
            .description_zh
            .contains("3号窗口"));
        assert_eq!(Place::Radiology.location(1).unwrap().floor, -1);
    }
}
